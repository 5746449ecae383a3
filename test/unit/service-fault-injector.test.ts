import { checkFaultRate, createFaultInjector } from '../../src/service/fault-injector';

describe('fault injector', () => {
  it('never fails at rate 0 and always at rate 1', () => {
    const draws = [0, 0.5, 0.999999];
    let index = 0;
    const random = () => draws[index++ % draws.length] as number;
    const faults = createFaultInjector(0, random);
    expect(draws.map(() => faults.shouldFail())).toEqual([false, false, false]);
    faults.setRate(1);
    expect(draws.map(() => faults.shouldFail())).toEqual([true, true, true]);
  });

  it('fails the fraction of draws below the rate', () => {
    let state = 1;
    // A fixed sequence spread evenly over [0, 1): 10,000 draws, 25 % of them below 0.25.
    const random = () => ((state = (state * 7919) % 10_007) - 1) / 10_006;
    const faults = createFaultInjector(0.25, random);
    const failed = Array.from({ length: 10_000 }, () => faults.shouldFail()).filter(Boolean).length;
    expect(failed).toBeGreaterThan(2_300);
    expect(failed).toBeLessThan(2_700);
  });

  it.each([[-0.1], [1.5], [Number.NaN], [Number.POSITIVE_INFINITY]])('rejects rate %p', (rate) => {
    expect(() => checkFaultRate(rate)).toThrow(/from 0 to 1/);
    expect(() => createFaultInjector(rate)).toThrow(RangeError);
    const faults = createFaultInjector(0.1);
    expect(() => faults.setRate(rate)).toThrow(RangeError);
    expect(faults.rate()).toBe(0.1);
  });
});

import { describeServer } from '../../src/reader/describe-server';

describe('describeServer', () => {
  it('shows host and port, and the database only when asked, never the credentials', () => {
    const url = 'postgres://app:hunter2@db.example:5432/config';
    expect(describeServer(url)).toBe('db.example:5432');
    expect(describeServer(url, { withPath: true })).toBe('db.example:5432/config');
    expect(describeServer('redis://:hunter2@cache.example:6379')).toBe('cache.example:6379');
  });

  it('does not echo a URL it cannot parse', () => {
    expect(describeServer('app:hunter2@nowhere')).not.toContain('hunter2');
    expect(describeServer('not a url')).toBe('the configured server');
  });
});

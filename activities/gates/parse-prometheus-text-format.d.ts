// The package ships no types; only what exposition.ts uses, and exposition.ts checks the shape at run time.
declare module 'parse-prometheus-text-format' {
  function parsePrometheusTextFormat(text: string): unknown;
  export = parsePrometheusTextFormat;
}

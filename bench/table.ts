/**
 * Plain-text tables for benchmark figures on stdout.
 *
 * @module
 */

/** One table row: column name -> value (null or undefined prints as "-"). */
export type Row = Record<string, string | number | boolean | null | undefined>;

/** Renders rows as an aligned table, columns in first-seen order; numbers right-aligned. */
export function formatTable(rows: readonly Row[]): string {
  const columns: string[] = [];
  for (const row of rows) {
    for (const key of Object.keys(row)) if (!columns.includes(key)) columns.push(key);
  }
  const cells = rows.map((row) => columns.map((column) => formatCell(row[column])));
  const numeric = columns.map((column) =>
    rows.every((row) =>
      row[column] === undefined || row[column] === null ||
      typeof row[column] === "number"
    )
  );
  const widths = columns.map((column, i) =>
    Math.max(column.length, ...cells.map((line) => line[i].length))
  );
  const pad = (text: string, i: number) =>
    numeric[i] ? text.padStart(widths[i]) : text.padEnd(widths[i]);
  const lines = [
    columns.map(pad).join("  "),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...cells.map((line) => line.map(pad).join("  ")),
  ];
  return lines.map((line) => line.trimEnd()).join("\n");
}

/** Numbers with a sensible precision: integers grouped, small values with decimals. */
export function formatCell(value: Row[string]): string {
  if (value === null || value === undefined) return "-";
  if (typeof value !== "number") return String(value);
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value) || Math.abs(value) >= 1000) {
    return Math.round(value).toLocaleString("en-US");
  }
  if (Math.abs(value) >= 100) return value.toFixed(0);
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

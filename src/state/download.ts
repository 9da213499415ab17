// Handing a file the page made (a zip, a JSON, a table) to the browser's downloads.

export function offerDownload(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  // The click only starts the download; the browser reads the Blob after it returns.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

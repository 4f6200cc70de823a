//! How list commands print: one helper owns the three forms of every list — a table for
//! people, `--json` (the records themselves, with the vocabulary of the model's serde names)
//! and `--csv` (the table's columns, RFC 4180 quoting by the `csv` crate) — so every list
//! offers all three and prints them the same way. It also caps long tables for people
//! ("... and N more").

use std::io::Write;

use clap::Args;
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;

use super::{CliError, write_out};

/// The output flags of a list command.
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct ListFormat {
    /// Print JSON instead of a table.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Print CSV (a header row, then one row per record) instead of a table.
    #[arg(long)]
    pub csv: bool,
}

/// A list ready to print: the records (for JSON), the table's header and rows (for the table
/// and CSV), and a line after the table for people.
pub struct Listing<'a, T: Serialize + ?Sized> {
    /// The records as JSON shows them.
    pub records: &'a T,
    /// Column names.
    pub header: &'a [&'a str],
    /// One row per record, in header order.
    pub rows: Vec<Vec<String>>,
    /// Printed after the table (not in JSON or CSV), e.g. "3 candidates".
    pub footer: Option<String>,
}

impl<T: Serialize + ?Sized> Listing<'_, T> {
    /// Prints the list in the chosen form.
    pub fn print(self, format: ListFormat, out: &mut dyn Write) -> Result<(), CliError> {
        if format.json {
            return json_out(out, self.records);
        }
        if format.csv {
            return write_out(out, &csv_text(self.header, &self.rows)?);
        }
        let mut text = format!("{}\n", table(self.header, self.rows));
        if let Some(footer) = self.footer {
            text.push_str(&footer);
            text.push('\n');
        }
        write_out(out, &text)
    }
}

/// Pretty JSON and a newline.
pub fn json_out<T: Serialize + ?Sized>(out: &mut dyn Write, value: &T) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::Failure(format!("cannot encode JSON: {e}")))?;
    write_out(out, &format!("{text}\n"))
}

/// A table of `rows` under `header`.
pub fn table(header: &[&str], rows: Vec<Vec<String>>) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.to_vec());
    for row in rows {
        t.add_row(row);
    }
    t
}

/// A table of at most `limit` of `rows`, then "... and N more" for the rest.
pub fn capped_table(header: &[&str], mut rows: Vec<Vec<String>>, limit: usize) -> String {
    let rest = rows.len().saturating_sub(limit);
    rows.truncate(limit);
    let mut text = format!("{}\n", table(header, rows));
    if rest > 0 {
        text.push_str(&format!("... and {rest} more (--json lists every one)\n"));
    }
    text
}

/// CSV text: the header, then the rows, CRLF line ends, quoted where needed.
pub fn csv_text(header: &[&str], rows: &[Vec<String>]) -> Result<String, CliError> {
    let failed = |e: &dyn std::fmt::Display| CliError::Failure(format!("cannot write CSV: {e}"));
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    writer.write_record(header).map_err(|e| failed(&e))?;
    for row in rows {
        writer.write_record(row).map_err(|e| failed(&e))?;
    }
    let bytes = writer.into_inner().map_err(|e| failed(&e))?;
    String::from_utf8(bytes).map_err(|e| failed(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_it() {
        let rows = vec![vec!["a,b".to_string(), "say \"hi\"".into(), "x\ny".into()]];
        let text = csv_text(&["one", "two", "three"], &rows).unwrap();
        assert_eq!(
            text,
            "one,two,three\r\n\"a,b\",\"say \"\"hi\"\"\",\"x\ny\"\r\n"
        );
    }

    #[test]
    fn a_capped_table_counts_the_rest() {
        let rows = (0..25).map(|i| vec![format!("row{i}")]).collect();
        let text = capped_table(&["Row"], rows, 20);
        assert!(text.contains("row19") && !text.contains("row20"), "{text}");
        assert!(text.contains("... and 5 more"), "{text}");
    }
}

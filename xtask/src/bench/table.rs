//! Plain-text tables with aligned columns, readable in a terminal and
//! pasteable into Markdown.

use std::fmt::Write as _;

pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new<const N: usize>(header: [&str; N]) -> Self {
        Self {
            header: header.iter().map(|&cell| cell.to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// As a Markdown table whose columns also line up in plain text.
    pub fn render(&self) -> String {
        let columns = self.header.len();
        let mut widths: Vec<usize> = self
            .header
            .iter()
            .map(|cell| cell.chars().count())
            .collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut text = String::from("|");
            for (index, width) in widths.iter().enumerate() {
                let cell = cells.get(index).map_or("", String::as_str);
                let _ = write!(text, " {cell:<width$} |");
            }
            text.push('\n');
            text
        };
        let mut out = line(&self.header);
        out.push('|');
        for width in &widths[..columns] {
            out.push_str(&"-".repeat(width + 2));
            out.push('|');
        }
        out.push('\n');
        for row in &self.rows {
            out.push_str(&line(row));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_columns() {
        let mut table = Table::new(["metric", "value"]);
        table.row(vec!["connections/s".into(), "1".into()]);
        assert_eq!(
            table.render(),
            "| metric        | value |\n|---------------|-------|\n| connections/s | 1     |\n"
        );
    }
}

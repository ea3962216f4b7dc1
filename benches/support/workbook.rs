//! The upload-sized file as an Excel workbook: the generator's rows (clean style) written
//! with rust_xlsxwriter as a user's sheet holds them: amounts as numbers, close dates as
//! date cells, the rest as text (shared strings, as Excel writes them).

use std::path::Path;

use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};

use super::generator::{self, Generated, HEADER, Spec};

/// Writes the rows of `spec` (clean style, no bad rows) to an `.xlsx` at `path`.
pub fn write_xlsx(path: &Path, spec: &Spec) -> anyhow::Result<Generated> {
    anyhow::ensure!(
        spec.bad_share == 0.0,
        "the workbook is written without bad rows"
    );
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name("Pipeline")?;
    let date_format = Format::new().set_num_format("yyyy-mm-dd");
    for (col, name) in HEADER.iter().enumerate() {
        sheet.write_string(0, col as u16, *name)?;
    }
    let mut row = 0u32;
    generator::for_each_row(spec, |fields, _| {
        row += 1;
        for (col, value) in fields.iter().enumerate() {
            let col = col as u16;
            if value.is_empty() {
                continue;
            }
            match col {
                2 => {
                    sheet.write_number(row, col, value.parse::<f64>()?)?;
                }
                3 => {
                    let date = ExcelDateTime::parse_from_str(value)?;
                    sheet.write_datetime_with_format(row, col, &date, &date_format)?;
                }
                _ => {
                    sheet.write_string(row, col, value)?;
                }
            }
        }
        Ok::<_, anyhow::Error>(())
    })?;
    workbook.save(path)?;
    Ok(Generated {
        rows: spec.rows,
        bad_rows: 0,
        bytes: std::fs::metadata(path)?.len(),
    })
}

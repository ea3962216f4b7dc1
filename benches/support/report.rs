//! Medians and the results table (Markdown, so it can be pasted into the docs).

/// The median of `samples` (the mean of the middle two for an even count).
pub fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// "1.234 (1.200–1.300)": the median and the range of the samples.
pub fn spread(samples: &[f64], digits: usize) -> String {
    let min = samples.iter().copied().fold(f64::INFINITY, f64::min);
    let max = samples.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!(
        "{:.digits$} ({:.digits$}–{:.digits$})",
        median(samples),
        min,
        max
    )
}

/// One line of the table.
#[derive(Debug, Default, Clone)]
pub struct Line {
    pub measurement: String,
    pub file: String,
    pub rows: Option<u64>,
    /// Median seconds of the psql reference.
    pub reference: Option<f64>,
    /// Median seconds of the project.
    pub project: Option<f64>,
    /// Median project rows per second.
    pub rate: Option<f64>,
    /// A memory or throughput figure.
    pub figure: String,
    /// The target, with the measured figure it is judged on.
    pub target: String,
    pub met: Option<bool>,
}

/// 1234567 → "1,234,567".
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// KiB → "41.2 MB" (MiB, as the targets mean them).
pub fn mib(kib: f64) -> String {
    format!("{:.1} MB", kib / 1024.0)
}

/// Prints the table.
pub fn print_table(lines: &[Line]) {
    let header = [
        "measurement",
        "file",
        "rows",
        "reference s",
        "project s",
        "ratio",
        "rows/s",
        "memory / jobs/s",
        "target",
        "met",
    ];
    let cells: Vec<[String; 10]> = lines
        .iter()
        .map(|l| {
            let secs = |s: Option<f64>| s.map(|s| format!("{s:.3}")).unwrap_or_default();
            let ratio = match (l.reference, l.project) {
                (Some(r), Some(p)) => format!("{:.2}", p / r),
                _ => String::new(),
            };
            [
                l.measurement.clone(),
                l.file.clone(),
                l.rows.map(group).unwrap_or_default(),
                secs(l.reference),
                secs(l.project),
                ratio,
                l.rate.map(|r| group(r.round() as u64)).unwrap_or_default(),
                l.figure.clone(),
                l.target.clone(),
                match l.met {
                    Some(true) => "✓".into(),
                    Some(false) => "✗".into(),
                    None => String::new(),
                },
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let print_row = |row: &[String]| {
        let padded: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect();
        println!("| {} |", padded.join(" | "));
    };
    print_row(&header.map(str::to_owned));
    println!(
        "|{}|",
        widths
            .iter()
            .map(|w| "-".repeat(w + 2))
            .collect::<Vec<_>>()
            .join("|")
    );
    for row in &cells {
        print_row(row);
    }
}

//! A deterministic generator of realistic Opportunities CSV files.
//!
//! The same spec always gives the same bytes (a SplitMix64 stream seeded from the spec,
//! independent of any crate's algorithm). [`Style::Clean`] writes values that Postgres can
//! cast directly (plain decimals, ISO dates), so the `psql` reference and the project read
//! the very same file; [`Style::Realistic`] mixes in `"$1,234.00"` amounts and US dates.
//! Both quote names with commas and doubled quotes, as CRM exports do.

use std::{
    fs::File,
    io::{self, BufWriter, Write},
    path::Path,
};

/// The header line, in the order of the fields of each row.
pub const HEADER: [&str; 12] = [
    "Opportunity ID",
    "Opportunity Name",
    "Amount",
    "Close Date",
    "Stage",
    "Opportunity Owner",
    "Opportunity Owner Email",
    "Account ID",
    "Account Name",
    "Account URL/Website",
    "Opportunity Type",
    "Next Step",
];

/// How values are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Amounts like `12345.67`, dates like `2025-03-14`: castable by Postgres as they are.
    Clean,
    /// Also `"$12,345.00"` and `80000` amounts and `3/14/2025` dates.
    Realistic,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Data rows (the header line comes on top).
    pub rows: u64,
    /// Seed of the value stream.
    pub seed: u64,
    /// How values are written.
    pub style: Style,
    /// Share of rows (0.0–1.0) that the import must reject, one problem each.
    pub bad_share: f64,
    /// Number of the first row's Opportunity ID; files with disjoint ranges never collide.
    pub first_id: u64,
}

impl Spec {
    /// `rows` clean rows with IDs from 0 and no bad rows.
    pub fn clean(rows: u64) -> Self {
        Self {
            rows,
            seed: 0x0bb0_2026,
            style: Style::Clean,
            bad_share: 0.0,
            first_id: 0,
        }
    }
}

/// What was generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generated {
    /// Data rows written.
    pub rows: u64,
    /// Rows among them that the import must reject.
    pub bad_rows: u64,
    /// Size of the file.
    pub bytes: u64,
}

/// Writes the file at `path`.
pub fn write_file(path: &Path, spec: &Spec) -> io::Result<Generated> {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let generated = write(&mut out, spec)?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(generated)
}

/// The file's bytes (for small files).
pub fn to_bytes(spec: &Spec) -> Vec<u8> {
    let mut bytes = Vec::new();
    write(&mut bytes, spec).expect("writing to memory cannot fail");
    bytes
}

/// Writes the CSV to `out`.
pub fn write(out: &mut impl Write, spec: &Spec) -> io::Result<Generated> {
    let mut line = String::with_capacity(512);
    line.push_str(&HEADER.join(","));
    line.push('\n');
    let mut bytes = line.len() as u64;
    out.write_all(line.as_bytes())?;
    let mut bad_rows = 0;
    for_each_row(spec, |fields, bad| {
        bad_rows += u64::from(bad);
        bytes += write_record(out, &mut line, fields)?;
        Ok::<_, io::Error>(())
    })?;
    Ok(Generated {
        rows: spec.rows,
        bad_rows,
        bytes,
    })
}

/// Calls `each` with the fields of every row of `spec` and whether it was spoiled (a bad
/// row).
pub fn for_each_row<E>(
    spec: &Spec,
    mut each: impl FnMut(&[String], bool) -> Result<(), E>,
) -> Result<(), E> {
    let mut rng = SplitMix64::new(spec.seed ^ spec.first_id.wrapping_mul(0x9E37_79B9));
    let bad_threshold = (spec.bad_share.clamp(0.0, 1.0) * 1_000_000.0).round() as u64;
    let mut fields: Vec<String> = Vec::with_capacity(HEADER.len());
    for index in 0..spec.rows {
        fields.clear();
        row(&mut rng, spec.style, spec.first_id + index, &mut fields);
        let bad = rng.below(1_000_000) < bad_threshold;
        if bad {
            spoil(&mut rng, &mut fields);
        }
        each(&fields, bad)?;
    }
    Ok(())
}

/// The Contacts file's header line.
pub const CONTACT_HEADER: [&str; 9] = [
    "Opportunity ID",
    "Email",
    "Fullname",
    "First Name",
    "Last Name",
    "Title",
    "Company Name",
    "Phone",
    "Mobile Phone",
];

const TITLES: &[&str] = &[
    "VP Sales",
    "Head of Procurement",
    "CTO",
    "Account Executive",
    "Director, Operations",
    "",
    "Buyer",
    "CFO",
];

/// `rows` contacts with distinct emails, each linked to one of the opportunities with IDs
/// `0..opportunities` of the opportunity files (round robin), so every link resolves.
pub fn write_contacts(
    out: &mut impl Write,
    rows: u64,
    opportunities: u64,
    seed: u64,
) -> io::Result<Generated> {
    let mut rng = SplitMix64::new(seed);
    let mut line = CONTACT_HEADER.join(",");
    line.push('\n');
    let mut bytes = line.len() as u64;
    out.write_all(line.as_bytes())?;
    for i in 0..rows {
        let (first, first_ascii) = pick(&mut rng, FIRST_NAMES);
        let (last, last_ascii) = pick(&mut rng, LAST_NAMES);
        let company = pick(&mut rng, COMPANIES);
        let domain = company.to_lowercase().replace(' ', "");
        let fields = [
            sf_id("006", i % opportunities.max(1)),
            format!("{first_ascii}.{last_ascii}.{i}@{domain}.com"),
            format!("{first} {last}"),
            first.to_owned(),
            last.to_owned(),
            pick(&mut rng, TITLES).to_owned(),
            format!("{company} {}", pick(&mut rng, QUALIFIERS)),
            format!("+1 555 {:03} {:04}", rng.below(1000), rng.below(10_000)),
            match rng.below(3) {
                0 => String::new(),
                _ => format!("+1 917 {:03} {:04}", rng.below(1000), rng.below(10_000)),
            },
        ];
        bytes += write_record(out, &mut line, &fields)?;
    }
    Ok(Generated {
        rows,
        bad_rows: 0,
        bytes,
    })
}

/// `rows` sales targets: 36 consecutive months (from 2024-01) per rep, distinct reps.
pub fn write_targets(out: &mut impl Write, rows: u64, seed: u64) -> io::Result<Generated> {
    let mut rng = SplitMix64::new(seed);
    let mut line = String::from("Email Address of Salesrep,Month,Amount\n");
    let mut bytes = line.len() as u64;
    out.write_all(line.as_bytes())?;
    for i in 0..rows {
        let (rep, month) = (i / 36, i % 36);
        let (first_ascii, last_ascii) = (
            FIRST_NAMES[(rep % FIRST_NAMES.len() as u64) as usize].1,
            LAST_NAMES[(rep / 16 % LAST_NAMES.len() as u64) as usize].1,
        );
        line.clear();
        line.push_str(&format!(
            "{first_ascii}.{last_ascii}.{rep}@sales.example.com,{}-{:02}-01,{}.{:02}\n",
            2024 + month / 12,
            1 + month % 12,
            10_000 + rng.below(490_000),
            rng.below(100)
        ));
        bytes += line.len() as u64;
        out.write_all(line.as_bytes())?;
    }
    Ok(Generated {
        rows,
        bad_rows: 0,
        bytes,
    })
}

/// Appends a CSV field, quoted (with doubled quotes) when it needs to be.
/// Writes one CSV record of `fields` (reusing `line` as its buffer); its length in bytes.
fn write_record(
    out: &mut impl Write,
    line: &mut String,
    fields: &[impl AsRef<str>],
) -> std::io::Result<u64> {
    line.clear();
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        push_field(line, field.as_ref());
    }
    line.push('\n');
    out.write_all(line.as_bytes())?;
    Ok(line.len() as u64)
}

fn push_field(line: &mut String, field: &str) {
    if field.contains([',', '"', '\n', '\r']) {
        line.push('"');
        line.push_str(&field.replace('"', "\"\""));
        line.push('"');
    } else {
        line.push_str(field);
    }
}

/// A Salesforce-like 15-character ID: prefix and 12 base-36 digits of `n`.
pub fn sf_id(prefix: &str, n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut body = [b'0'; 12];
    let mut rest = n;
    for slot in body.iter_mut().rev() {
        *slot = DIGITS[(rest % 36) as usize];
        rest /= 36;
    }
    format!("{prefix}{}", std::str::from_utf8(&body).unwrap())
}

const COMPANIES: &[&str] = &[
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Wonka",
    "Hooli",
    "Vandelay",
    "Soylent",
    "Cyberdyne",
    "Tyrell",
    "Aperture",
    "Nakatomi",
    "Oscorp",
    "Monarch",
    "Pinnacle",
    "Zenith",
    "Nordwind",
    "Bluth",
    "Dunder Mifflin",
    "Sterling Cooper",
    "Prestige Worldwide",
    "Gekko",
    "Krusty",
    "Pied Piper",
    "Massive Dynamic",
    "Blue Sun",
    "Weyland",
    "Virtucon",
];
const QUALIFIERS: &[&str] = &[
    "Industries",
    "Logistics",
    "Health",
    "Energy",
    "Foods",
    "Software",
    "Capital",
    "Labs",
    "Media",
    "Mining",
    "Pharma",
    "Robotics",
    "Retail",
    "Analytics",
    "Aerospace",
    "Freight",
];
const SUFFIXES: &[&str] = &[
    "Inc.", "LLC", "Ltd", "GmbH", "Corp.", "& Co", "Group", "Holdings", "S.A.", "plc",
];
const PRODUCTS: &[&str] = &[
    "Platform License",
    "Support Renewal",
    "Enterprise Upgrade",
    "Consulting Package",
    "Cloud Migration",
    "Data Add-on",
    "Seat Expansion",
    "Training Bundle",
    "Premium Support",
    "Analytics Suite",
    "Security Review",
    "Integration Services",
];
const TIERS: &[&str] = &["Gold", "Silver", "Platinum", "Starter", "Pro"];
const STAGES: &[&str] = &[
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Id. Decision Makers",
    "Perception Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
];
const TYPES: &[&str] = &["New Business", "Existing Business", "Renewal", "Upsell"];
/// Display name and the ASCII form used in email addresses.
const FIRST_NAMES: &[(&str, &str)] = &[
    ("James", "james"),
    ("Mary", "mary"),
    ("Robert", "robert"),
    ("Patricia", "patricia"),
    ("Jürgen", "juergen"),
    ("Linda", "linda"),
    ("Michael", "michael"),
    ("Élodie", "elodie"),
    ("David", "david"),
    ("Susan", "susan"),
    ("Sergio", "sergio"),
    ("Aisha", "aisha"),
    ("Hiroshi", "hiroshi"),
    ("Karen", "karen"),
    ("Nils", "nils"),
    ("Priya", "priya"),
];
const LAST_NAMES: &[(&str, &str)] = &[
    ("Smith", "smith"),
    ("Johnson", "johnson"),
    ("O'Brien", "obrien"),
    ("García", "garcia"),
    ("Müller", "mueller"),
    ("Nguyen", "nguyen"),
    ("Williams", "williams"),
    ("Brown", "brown"),
    ("Kowalski", "kowalski"),
    ("Tanaka", "tanaka"),
    ("Jones", "jones"),
    ("Andersson", "andersson"),
    ("Okafor", "okafor"),
    ("Rossi", "rossi"),
];
const NEXT_STEPS: &[&str] = &[
    "Send proposal",
    "Demo with {first}",
    "Pricing, legal review",
    "Negotiate terms",
    "",
    "Await PO",
    "Call {first} re: budget, Q3",
    "Send \"final\" quote",
    "Exec meeting",
    "",
];

/// Appends one row's fields.
fn row(rng: &mut SplitMix64, style: Style, id: u64, fields: &mut Vec<String>) {
    let account_no = rng.below(20_000);
    let company = COMPANIES[(account_no % COMPANIES.len() as u64) as usize];
    let qualifier = QUALIFIERS[(account_no / 30 % QUALIFIERS.len() as u64) as usize];
    let suffix = SUFFIXES[(account_no / 480 % SUFFIXES.len() as u64) as usize];
    // One account in three is written "Name, Suffix" (a quoted field with a comma).
    let account = if account_no.is_multiple_of(3) {
        format!("{company} {qualifier}, {suffix}")
    } else {
        format!("{company} {qualifier} {suffix}")
    };
    let product = pick(rng, PRODUCTS);
    let name = match rng.below(10) {
        0..=4 => format!("{company} {qualifier} - {product}"),
        5..=7 => format!("{company} - {product}, Phase {}", 1 + rng.below(4)),
        _ => format!("{company} - \"{}\" {product}", pick(rng, TIERS)),
    };
    let amount = match (style, rng.below(20)) {
        (_, 0) => String::new(),
        (Style::Realistic, 1..=3) => {
            let dollars = 500 + rng.below(2_000_000);
            format!("${}.00", thousands(dollars))
        }
        (Style::Realistic, 4..=5) => (1_000 + rng.below(500_000)).to_string(),
        _ => format!("{}.{:02}", 100 + rng.below(900_000), rng.below(100)),
    };
    let (year, month, day) = (2023 + rng.below(4), 1 + rng.below(12), 1 + rng.below(28));
    let close_date = match (style, rng.below(20)) {
        (_, 0) => String::new(),
        (Style::Realistic, 1..=7) => format!("{month}/{day}/{year}"),
        _ => format!("{year}-{month:02}-{day:02}"),
    };
    let (first, first_ascii) = pick(rng, FIRST_NAMES);
    let (last, last_ascii) = pick(rng, LAST_NAMES);
    let domain = company.to_lowercase().replace(' ', "");
    let next_step = pick(rng, NEXT_STEPS).replace("{first}", first);
    fields.push(sf_id("006", id));
    fields.push(name);
    fields.push(amount);
    fields.push(close_date);
    fields.push(pick(rng, STAGES).to_owned());
    fields.push(format!("{first} {last}"));
    fields.push(format!("{first_ascii}.{last_ascii}@{domain}.com"));
    fields.push(sf_id("001", account_no));
    fields.push(account);
    fields.push(format!("https://www.{domain}.com"));
    fields.push(pick(rng, TYPES).to_owned());
    fields.push(next_step);
}

/// Gives a row exactly one problem that makes the import reject it.
fn spoil(rng: &mut SplitMix64, fields: &mut Vec<String>) {
    match rng.below(5) {
        0 => fields[0].clear(),                 // required Opportunity ID missing
        1 => fields[2] = "TBD".into(),          // amount is not a number
        2 => fields[3] = "next quarter".into(), // date cannot be read
        3 => fields[6] = "jane.doe@".into(),    // owner email is not an email
        _ => {
            fields.pop(); // one field short
        }
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn pick<T: Copy>(rng: &mut SplitMix64, items: &[T]) -> T {
    items[rng.below(items.len() as u64) as usize]
}

/// SplitMix64: tiny, fast and fully specified, so files never change with a crate update.
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A stream from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (n > 0); the modulo bias is irrelevant here.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

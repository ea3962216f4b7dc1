//! Contacts: keyed by email (case-insensitive); linked to the tenant's opportunities
//! by their external Opportunity ID, one link per upload row.

use std::collections::{HashMap, HashSet};

use csv::StringRecord;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::{Problem, ProblemCode};

use super::{
    csv_source::CsvFormat,
    header::{ColumnMap, FieldSpec},
    kind::{
        ChunkResult, ImportKind, RowOutcomes, WriteScope, key_hash, merge_changed, merge_per_key,
        newer,
    },
    row::{RowReader, Text},
    upsert::{OnConflict, Upsert, new_row_ids},
    values,
};

/// The Contacts import.
pub(crate) struct Contacts;

const OPPORTUNITY_ID: usize = 0;
const EMAIL: usize = 1;
const FULLNAME: usize = 2;
const FIRST_NAME: usize = 3;
const LAST_NAME: usize = 4;
const TITLE: usize = 5;
const COMPANY: usize = 6;
const PHONE: usize = 7;
const MOBILE: usize = 8;

/// A validated contact row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ContactRow {
    pub external_opp_id: Option<Text>,
    pub email: Text,
    pub email_key: Text,
    pub fullname: Option<Text>,
    pub first_name: Option<Text>,
    pub last_name: Option<Text>,
    pub title: Option<Text>,
    pub company_name: Option<Text>,
    pub phone: Option<Text>,
    pub mobile_phone: Option<Text>,
}

/// Fills Fullname from First/Last Name, or First/Last Name from Fullname, when only one
/// side is given. A full name splits at its first space: "Mary Ann Smith" gives first
/// name "Mary" and last name "Ann Smith".
pub(crate) fn fill_names(
    fullname: Option<Text>,
    first: Option<Text>,
    last: Option<Text>,
) -> (Option<Text>, Option<Text>, Option<Text>) {
    match (fullname, first, last) {
        (None, first, last) if first.is_some() || last.is_some() => {
            let full = [first.as_deref(), last.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            (Some(full.into()), first, last)
        }
        (Some(full), None, None) => {
            let (first, last) = match full.split_once(char::is_whitespace) {
                Some((first, last)) => (first.into(), Some(last.trim().into())),
                None => (full.clone(), None),
            };
            (Some(full), Some(first), last)
        }
        other => other,
    }
}

impl ContactRow {
    /// Applies a later row of the same contact over this one (links are kept apart).
    fn merge(&mut self, later: &Self) {
        self.email.clone_from(&later.email);
        newer(&mut self.fullname, &later.fullname);
        newer(&mut self.first_name, &later.first_name);
        newer(&mut self.last_name, &later.last_name);
        newer(&mut self.title, &later.title);
        newer(&mut self.company_name, &later.company_name);
        newer(&mut self.phone, &later.phone);
        newer(&mut self.mobile_phone, &later.mobile_phone);
    }
}

impl ImportKind for Contacts {
    type Row = ContactRow;

    const FIELDS: &'static [FieldSpec] = &[
        FieldSpec {
            name: "Opportunity ID",
            aliases: &[
                "Opp ID",
                "External Opportunity ID",
                "Opportunity External ID",
            ],
            required: false,
        },
        FieldSpec {
            name: "Email",
            aliases: &[
                "Email Address",
                "Contact Email",
                "Work Email",
                "Business Email",
            ],
            required: true,
        },
        FieldSpec {
            name: "Fullname",
            aliases: &["Full Name", "Contact Name", "Name"],
            required: false,
        },
        FieldSpec {
            name: "First Name",
            aliases: &["Given Name"],
            required: false,
        },
        FieldSpec {
            name: "Last Name",
            aliases: &["Surname", "Family Name"],
            required: false,
        },
        FieldSpec {
            name: "Title",
            aliases: &["Job Title", "Position"],
            required: false,
        },
        FieldSpec {
            name: "Company Name",
            aliases: &["Company", "Account Name", "Organization", "Organisation"],
            required: false,
        },
        FieldSpec {
            name: "Phone",
            aliases: &[
                "Phone Number",
                "Business Phone",
                "Work Phone",
                "Office Phone",
            ],
            required: false,
        },
        FieldSpec {
            name: "Mobile Phone",
            aliases: &["Mobile", "Mobile Phone Number", "Cell", "Cell Phone"],
            required: false,
        },
    ];

    fn partition_key(row: &Self::Row) -> u64 {
        key_hash(&row.email_key)
    }

    fn parse(
        columns: &ColumnMap,
        record: &StringRecord,
        _format: &CsvFormat,
    ) -> Result<ContactRow, Vec<Problem>> {
        let mut row = RowReader::new(columns, record, Self::FIELDS);
        let email = row
            .required_parsed(EMAIL, values::parse_email)
            .map(Text::from);
        let (fullname, first_name, last_name) = fill_names(
            row.text(FULLNAME),
            row.text(FIRST_NAME),
            row.text(LAST_NAME),
        );
        let (title, company_name, phone, mobile_phone) = (
            row.text(TITLE),
            row.text(COMPANY),
            row.text(PHONE),
            row.text(MOBILE),
        );
        let external_opp_id = row.text(OPPORTUNITY_ID);
        row.finish(|| {
            let email = email.unwrap_or_default();
            ContactRow {
                external_opp_id,
                email_key: values::email_key(&email).into(),
                email,
                fullname,
                first_name,
                last_name,
                title,
                company_name,
                phone,
                mobile_phone,
            }
        })
    }

    async fn write_chunk(
        conn: &mut PgConnection,
        scope: WriteScope,
        columns: &ColumnMap,
        rows: &[ContactRow],
    ) -> Result<ChunkResult, sqlx::Error> {
        let tenant_id = scope.tenant_id;
        // Resolve the external Opportunity IDs; rows naming one the tenant lacks are refused.
        let mut wanted: Vec<&str> = rows
            .iter()
            .filter_map(|r| r.external_opp_id.as_deref())
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        let known: HashMap<String, Uuid> = if wanted.is_empty() {
            HashMap::new()
        } else {
            sqlx::query_as::<_, (String, Uuid)>(
                "SELECT external_opp_id, id FROM opportunities WHERE tenant_id = $1 AND external_opp_id = ANY($2)",
            )
            .bind(tenant_id)
            .bind(&wanted)
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .collect()
        };
        let mut result = ChunkResult::default();
        let mut accepted = Vec::with_capacity(rows.len());
        let mut links: Vec<(&str, Uuid)> = Vec::new();
        for (index, row) in rows.iter().enumerate() {
            match row.external_opp_id.as_deref() {
                Some(external) => match known.get(external) {
                    Some(&opportunity) => {
                        links.push((&row.email_key, opportunity));
                        accepted.push(row);
                    }
                    None => result.rejected.push((
                        index,
                        Problem {
                            code: ProblemCode::UnknownOpportunity,
                            column: columns.header_of(OPPORTUNITY_ID).map(str::to_owned),
                            value: Some(external.to_owned()),
                            message: format!(
                                "unknown Opportunity ID \"{external}\": upload that opportunity first"
                            ),
                        },
                    )),
                },
                None => accepted.push(row),
            }
        }
        if accepted.is_empty() {
            return Ok(result);
        }
        links.sort_unstable();
        links.dedup();
        let accepted: Vec<ContactRow> = accepted.into_iter().cloned().collect();
        // A repeated contact changes something when it changes a value or brings a link
        // the earlier rows of its email did not (`merge` leaves `external_opp_id` as the
        // first row's).
        let mut seen_links: HashSet<(Text, Text)> = HashSet::new();
        let merged = merge_per_key(
            &accepted,
            |r| r.email_key.as_str(),
            |into, later| {
                if let Some(first) = &into.external_opp_id {
                    seen_links.insert((into.email_key.clone(), first.clone()));
                }
                let new_link = later
                    .external_opp_id
                    .as_ref()
                    .is_some_and(|link| seen_links.insert((later.email_key.clone(), link.clone())));
                merge_changed(into, later, ContactRow::merge) || new_link
            },
        );
        let contacts = &merged.rows;

        let has = |field: usize| columns.has(Self::FIELDS[field].name);
        let names_given = has(FULLNAME) || has(FIRST_NAME) || has(LAST_NAME);
        let name_update = |field: usize| {
            if has(field) {
                OnConflict::Update
            } else {
                OnConflict::FillEmpty
            }
        };
        let mut upsert = Upsert::new("contacts", "(tenant_id, lower(email))");
        upsert.column("email", "text", OnConflict::Update);
        let mut text_columns: Vec<usize> = Vec::new();
        if names_given {
            for (field, column) in [
                (FULLNAME, "fullname"),
                (FIRST_NAME, "first_name"),
                (LAST_NAME, "last_name"),
            ] {
                upsert.column(column, "text", name_update(field));
                text_columns.push(field);
            }
        }
        for (field, column) in [
            (TITLE, "title"),
            (COMPANY, "company_name"),
            (PHONE, "phone"),
            (MOBILE, "mobile_phone"),
        ] {
            if has(field) {
                upsert.column(column, "text", OnConflict::Update);
                text_columns.push(field);
            }
        }
        let links_param = upsert.next_param();
        let job_param = links_param + 2;
        if scope.job_id.is_some() {
            upsert.keep_changes(job_param);
        }
        // A link remembers the job that made it, and a contact whose one change is a new
        // link is changed too (its version and last writer): the table's trigger keeps an
        // empty before-image for it, so a revert of the job removes the link only while
        // nobody changed the contact.
        let (link_job, link_changes) = match scope.job_id {
            Some(_) => (
                format!("${job_param}::uuid"),
                format!(
                    ", link_only AS (
                         UPDATE contacts c
                            SET version = c.version + 1, updated_by_job = ${job_param}::uuid,
                                updated_at = now()
                           FROM (SELECT DISTINCT contact_id FROM linked) l
                          WHERE c.id = l.contact_id
                            AND NOT EXISTS (SELECT 1 FROM upserted u WHERE u.id = l.contact_id))"
                ),
            ),
            None => ("NULL::uuid".to_owned(), String::new()),
        };
        // Only created and changed contacts come back from the upsert; a link of an
        // unchanged one finds it in the statement's snapshot (looked up only for those:
        // COALESCE runs the subquery only when the upsert did not return the contact). A contact whose one change
        // is a new link counts as updated.
        let statement = format!(
            "WITH upserted AS ({upsert}),
             linked AS (
                 INSERT INTO contact_opportunities (contact_id, opportunity_id, job_id)
                 SELECT COALESCE(u.id, (SELECT c.id FROM contacts c
                                         WHERE c.tenant_id = $1 AND lower(c.email) = l.email_key)),
                        l.opportunity_id, {link_job}
                   FROM UNNEST(${links_param}::text[], ${}::uuid[]) AS l(email_key, opportunity_id)
                   LEFT JOIN upserted u ON u.email_key = l.email_key
                 ON CONFLICT DO NOTHING
                 RETURNING contact_id){link_changes}
             SELECT (SELECT count(*) FROM upserted WHERE created),
                    (SELECT count(*) FROM (
                        SELECT id FROM upserted WHERE NOT created
                        UNION
                        SELECT l.contact_id FROM linked l
                         WHERE NOT EXISTS (SELECT 1 FROM upserted u
                                            WHERE u.id = l.contact_id AND u.created)) changed)",
            links_param + 1,
            upsert =
                upsert.statement("RETURNING id, lower(email) AS email_key, (xmax = 0) AS created"),
        );
        let mut query = sqlx::query_as::<_, (i64, i64)>(&statement)
            .bind(tenant_id)
            .bind(new_row_ids(contacts.len()))
            .bind(
                contacts
                    .iter()
                    .map(|r| r.email.as_str())
                    .collect::<Vec<_>>(),
            );
        for field in text_columns {
            query = query.bind(
                contacts
                    .iter()
                    .map(|r| text_field(r, field))
                    .collect::<Vec<_>>(),
            );
        }
        query = query
            .bind(links.iter().map(|(email, _)| *email).collect::<Vec<_>>())
            .bind(links.iter().map(|(_, id)| *id).collect::<Vec<_>>());
        if let Some(job_id) = scope.job_id {
            query = query.bind(job_id);
        }
        let (created, updated) = query.fetch_one(&mut *conn).await?;
        result.outcomes = RowOutcomes::of_statement(contacts.len(), created, updated);
        result.outcomes += merged.repeats;
        Ok(result)
    }
}

fn text_field(row: &ContactRow, field: usize) -> Option<&str> {
    match field {
        FULLNAME => row.fullname.as_deref(),
        FIRST_NAME => row.first_name.as_deref(),
        LAST_NAME => row.last_name.as_deref(),
        TITLE => row.title.as_deref(),
        COMPANY => row.company_name.as_deref(),
        PHONE => row.phone.as_deref(),
        MOBILE => row.mobile_phone.as_deref(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::fill_names;

    fn s(v: &str) -> Option<super::Text> {
        Some(v.into())
    }

    #[test]
    fn names_fill_each_other_when_one_side_is_missing() {
        assert_eq!(
            fill_names(None, s("Ann"), s("Lee")),
            (s("Ann Lee"), s("Ann"), s("Lee"))
        );
        assert_eq!(fill_names(None, s("Ann"), None), (s("Ann"), s("Ann"), None));
        assert_eq!(
            fill_names(s("Mary Ann Smith"), None, None),
            (s("Mary Ann Smith"), s("Mary"), s("Ann Smith"))
        );
        assert_eq!(
            fill_names(s("Cher"), None, None),
            (s("Cher"), s("Cher"), None)
        );
        assert_eq!(
            fill_names(s("A B"), s("X"), None),
            (s("A B"), s("X"), None),
            "both sides given: kept as is"
        );
        assert_eq!(fill_names(None, None, None), (None, None, None));
    }
}

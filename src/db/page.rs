//! The one shape of a paged list: which slice was asked for, and the slice with the size of
//! the whole list. Every `list` in `db` takes a [`PageRequest`] and returns a [`Page`].

/// Which slice of a list to read: at most `limit` rows after skipping `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PageRequest {
    /// Rows per page.
    pub limit: i64,
    /// Rows skipped.
    pub offset: i64,
}

/// One page of a list and how many rows the whole list holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Page<T> {
    /// The page's rows, in the list's order.
    pub rows: Vec<T>,
    /// Rows in the whole list (all pages).
    pub total: i64,
}

impl<T> Page<T> {
    /// The same page with each row turned into another value (a view, say).
    pub(crate) fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            rows: self.rows.into_iter().map(f).collect(),
            total: self.total,
        }
    }
}

impl PageRequest {
    /// Reads one page with `read`: a single statement whose rows carry the size of the
    /// whole list beside each row, counted by an uncorrelated subquery of the same filter
    /// (`(SELECT count(*) FROM … WHERE …) AS "total!"`). Postgres runs that once, and the
    /// page keeps its own plan, which stops after `limit` rows; a window count
    /// (`count(*) OVER ()`) would read every row of the list, all columns, for every page.
    ///
    /// A page past the end (`offset` beyond the last row) has no row to carry the total, so
    /// only then is the list counted: `read` again, for its first row alone.
    pub(crate) async fn read<T, F, Fut>(self, read: F) -> Result<Page<T>, sqlx::Error>
    where
        F: Fn(PageRequest) -> Fut,
        Fut: Future<Output = Result<Vec<(T, i64)>, sqlx::Error>>,
    {
        let rows = read(self).await?;
        let total = match rows.first() {
            Some(&(_, total)) => total,
            None if self.offset > 0 || self.limit < 1 => {
                let first = PageRequest {
                    limit: 1,
                    offset: 0,
                };
                read(first).await?.first().map_or(0, |&(_, total)| total)
            }
            None => 0,
        };
        Ok(Page {
            rows: rows.into_iter().map(|(row, _)| row).collect(),
            total,
        })
    }
}

/// One page of a list read in its sort order after the sort key of a row (keyset paging):
/// the rows, whether more follow, and the size of the whole list only when it was asked
/// for. Counting a filtered list of a million rows costs a hundred times a page, so the
/// lists count on their first page only, not on every page of a walk
/// (docs/performance.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeysetPage<T> {
    /// The page's rows, in the list's order.
    pub rows: Vec<T>,
    /// Whether rows follow the last one.
    pub more: bool,
    /// Rows in the whole list, when counted.
    pub total: Option<i64>,
}

impl<T> KeysetPage<T> {
    /// The page of `limit` rows from rows read with `LIMIT limit + 1`: the extra row only
    /// tells that more follow.
    pub(crate) fn of(mut rows: Vec<T>, limit: i64, total: Option<i64>) -> Self {
        let limit = usize::try_from(limit.max(0)).unwrap_or(usize::MAX);
        let more = rows.len() > limit;
        rows.truncate(limit);
        Self { rows, more, total }
    }

    /// The same page with each row turned into another value (a view, say).
    pub(crate) fn map<U>(self, f: impl FnMut(T) -> U) -> KeysetPage<U> {
        KeysetPage {
            rows: self.rows.into_iter().map(f).collect(),
            more: self.more,
            total: self.total,
        }
    }
}

/// Where a keyset page starts: after the first `offset` rows (the older paging, kept for
/// clients written against it) or after the row with the sort key `after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeysetRequest<'a, K> {
    /// Rows per page.
    pub limit: i64,
    /// Rows skipped (0 with `after`).
    pub offset: i64,
    /// The sort key of the row before the page.
    pub after: Option<&'a K>,
    /// Whether to count the whole list.
    pub count: bool,
}

/// A `LIKE`/`ILIKE` pattern that matches `text` anywhere, its `%`, `_` and `\` matching
/// themselves (escaped with Postgres' default escape character, the backslash).
pub(crate) fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use super::{Page, PageRequest};
    use std::cell::RefCell;

    /// A list of `len` rows read as a page statement would: the slice, each row with `len`.
    fn list(len: i64, reads: &RefCell<Vec<PageRequest>>) -> impl Fn(PageRequest) -> Rows + '_ {
        move |page| {
            reads.borrow_mut().push(page);
            let rows = (page.offset..len)
                .take(usize::try_from(page.limit.max(0)).unwrap())
                .map(|row| (row, len))
                .collect();
            std::future::ready(Ok(rows))
        }
    }
    type Rows = std::future::Ready<Result<Vec<(i64, i64)>, sqlx::Error>>;

    fn page(limit: i64, offset: i64) -> PageRequest {
        PageRequest { limit, offset }
    }

    #[test]
    fn keyset_pages_tell_whether_more_follow_and_patterns_escape_wildcards() {
        let page = super::KeysetPage::of(vec![1, 2, 3], 2, None);
        assert_eq!((page.rows.as_slice(), page.more), (&[1, 2][..], true));
        let page = super::KeysetPage::of(vec![1, 2], 2, Some(2));
        assert_eq!((page.rows.as_slice(), page.more), (&[1, 2][..], false));
        assert_eq!(super::contains_pattern("5%_a\\b"), "%5\\%\\_a\\\\b%");
    }

    #[tokio::test]
    async fn a_page_takes_its_total_from_its_rows_in_one_read() {
        let reads = RefCell::new(Vec::new());
        let read = page(2, 1).read(list(5, &reads)).await.unwrap();
        assert_eq!(
            read,
            Page {
                rows: vec![1, 2],
                total: 5
            }
        );
        assert_eq!(*reads.borrow(), [page(2, 1)]);
    }

    #[tokio::test]
    async fn an_empty_list_is_counted_without_a_second_read() {
        let reads = RefCell::new(Vec::new());
        let read = page(10, 0).read(list(0, &reads)).await.unwrap();
        assert_eq!(
            read,
            Page {
                rows: vec![],
                total: 0
            }
        );
        assert_eq!(reads.borrow().len(), 1);
    }

    #[tokio::test]
    async fn a_page_past_the_end_still_knows_the_total() {
        let reads = RefCell::new(Vec::new());
        let read = page(10, 7).read(list(5, &reads)).await.unwrap();
        assert_eq!(
            read,
            Page {
                rows: vec![],
                total: 5
            }
        );
        assert_eq!(*reads.borrow(), [page(10, 7), page(1, 0)]);

        let reads = RefCell::new(Vec::new());
        let read = page(10, 7).read(list(0, &reads)).await.unwrap();
        assert_eq!(
            read,
            Page {
                rows: vec![],
                total: 0
            }
        );
    }
}

//! The one shape of a paged list: which slice was asked for, and the slice with the size of
//! the whole list. Every `list` in `db` takes a [`PageRequest`] and returns a [`Page`].

/// Which slice of a list to read: at most `limit` rows after skipping `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// Rows per page.
    pub limit: i64,
    /// Rows skipped.
    pub offset: i64,
}

/// One page of a list and how many rows the whole list holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The page's rows, in the list's order.
    pub rows: Vec<T>,
    /// Rows in the whole list (all pages).
    pub total: i64,
}

impl<T> Page<T> {
    /// The same page with each row turned into another value (a view, say).
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            rows: self.rows.into_iter().map(f).collect(),
            total: self.total,
        }
    }
}

//! Helpers of the import benchmark: the CSV generator, child processes and their memory,
//! the `psql` reference, the results table and the undo section.

pub mod generator;
pub mod hostile;
pub mod procs;
pub mod reference;
pub mod report;
pub mod undo;
pub mod workbook;

//! Sentence-pair and sentence-classification data from JSON Lines or TSV
//! files — SNLI, SICK, or a user's own — configured by
//! [`lsmc_ir::data::Table`]: which fields are texts, which is the label,
//! how the records split into train, valid and test.
//!
//! An independent PyTorch baseline reads the same data through
//! `bench/nli_data.py`, which implements the rules below word for word;
//! change both together.
//!
//! # Reading a file
//!
//! - UTF-8, a leading byte-order mark dropped. Lines end at `\n`, and a
//!   `\r` just before it is dropped (SICK.txt has CRLF endings). A line of
//!   only spaces, tabs and `\r` is skipped; line numbers (from 1) count
//!   every line.
//! - **JSON Lines**: each line is one JSON object and a field is a key;
//!   other keys are ignored (SNLI's own `snli_1.0_*.jsonl` carry parses and
//!   annotator labels beside `sentence1`, `sentence2`, `gold_label`). Texts
//!   and split values must be JSON strings; a label may be a string or an
//!   integer, read as its decimal text (`0`, `1`, `2` in Hugging Face
//!   exports).
//! - **TSV**: the first non-blank line is the header naming the columns;
//!   every other line has exactly as many cells, split at each tab. There
//!   is no quoting or escaping: a `"` is text. A column named twice in the
//!   header is read from its first occurrence.
//!
//! # Labels
//!
//! A record's label is compared with the class names and with the skipped
//! labels after lowercasing both (Unicode `to_lowercase`, no trimming):
//! class `k` is the `k`-th name. A record whose label is skipped (SNLI's
//! `-`, "no annotator majority", in the original files) is dropped; any
//! other label is an error that lists the known ones. Every record, dropped
//! or not, must have all its fields with the right types and a valid split
//! value; dropped records are not tokenised, so only the texts of kept
//! records must have tokens.
//!
//! # Splits ([`lsmc_ir::data::SplitRule`])
//!
//! - `Column`: one file; the split column's value (case-insensitive) is the
//!   train, valid or test value, and any other value is an error.
//! - `Files`: one file per split.
//! - `Holdout`: train and valid from one file, test from another. The
//!   records of the first file — every non-blank line, **including** those
//!   whose label is skipped, so that skipping a label never moves another
//!   record across — are numbered from 0 in file order and divided by
//!   [`holdout`] (its module states the rule). Records with skipped labels
//!   are then dropped from either part.
//!
//! Every split keeps file order and must end with at least one record.
//!
//! # Tokenisation ([`tokenize`])
//!
//! 1. If `lowercase` is set, the text is lowercased with Unicode
//!    `to_lowercase`.
//! 2. The characters are scanned left to right:
//!    - whitespace (`char::is_whitespace`: Unicode White_Space) separates
//!      tokens and is dropped;
//!    - a maximal run of alphanumeric characters (`char::is_alphanumeric`:
//!      Unicode Alphabetic or Numeric) is one token;
//!    - an ASCII apostrophe `'` immediately followed by an alphanumeric
//!      character forms one token with the maximal alphanumeric run after
//!      it: `'s`, `'re`, `'ll`, `'90`. When that token is exactly `'t` or
//!      `'T`, and the token before it ends right at the apostrophe (no
//!      whitespace between) with `n` or `N`, that letter moves onto it:
//!      `don't` → `do` `n't`, `can't` → `ca` `n't`, `DON'T` → `DO` `N'T`;
//!      a token that was only the `n` becomes `n't` whole;
//!    - any other character — punctuation, a symbol, an apostrophe not
//!      followed by an alphanumeric, the typographic `’` — is a token by
//!      itself.
//!
//! `A man's "hat" isn't red.`, lowercased: `a man 's " hat " is n't red .`
//! A text without tokens (empty or all whitespace) is an error.
//!
//! # Vocabulary and encoding
//!
//! Ids 0 and 1 are `<pad>` and `<unk>`. Then every token of the training
//! records gets an id, in order of first occurrence (records in file order,
//! a record's texts in field order), and after them every valid or test
//! token that has a pretrained vector. A token is looked up in the vectors
//! as written, then lowercased ([`lookup_forms`]). Training tokens without
//! a vector get a seeded random one (as SST's: [`Vocabulary::build`]);
//! valid and test tokens without one are `<unk>`. Each split encodes each
//! text field as a `[examples, width]` array of token ids, padded with 0 to
//! the longest text of that field in that split, with the texts' lengths
//! beside it, and the classes as a `[examples]` array.

mod error;
pub mod holdout;
mod rows;
#[cfg(test)]
mod tests;
pub mod tokenize;

pub use error::{FileError, Problem, TableError};
pub use holdout::{holdout, splitmix64};
pub use tokenize::tokenize;

use super::vectors::{read_vectors, Vocabulary};
use crate::real::Real;
use lsmc_ir::data::{Embeddings, SplitRule, Table, TextField};
use lsmc_ir::plan::Split as Part;
use ndarray::{Array1, ArrayD, IxDyn};
use rows::{read_rows, read_text, rows_of_text, Cell, Row};
use std::path::Path;
use std::sync::Arc;

/// A kept record: its line (from 1), the tokens of each text in the
/// configuration's field order, and its class.
#[derive(Clone, Debug, PartialEq)]
pub struct Example {
    pub line: usize,
    pub texts: Vec<Vec<String>>,
    pub label: usize,
}

/// The tokenised records of each split.
#[derive(Clone, Debug, PartialEq)]
pub struct Examples {
    pub train: Vec<Example>,
    pub valid: Vec<Example>,
    pub test: Vec<Example>,
}

impl Examples {
    pub fn split(&self, part: Part) -> &[Example] {
        match part {
            Part::Train => &self.train,
            Part::Valid => &self.valid,
            Part::Test => &self.test,
        }
    }

    fn split_mut(&mut self, part: Part) -> &mut Vec<Example> {
        match part {
            Part::Train => &mut self.train,
            Part::Valid => &mut self.valid,
            Part::Test => &mut self.test,
        }
    }
}

/// One text field of a split, encoded.
#[derive(Clone, Debug)]
pub struct EncodedText<T> {
    /// The field's name for the model ([`TextField::name`]).
    pub name: String,
    /// `[examples, width]` token ids, 0 past each text's end.
    pub tokens: Arc<ArrayD<T>>,
    /// Tokens per example.
    pub lengths: Vec<usize>,
}

/// One split, encoded: a text array per field and the classes.
#[derive(Clone, Debug)]
pub struct TableSplit<T> {
    /// In the configuration's field order.
    pub texts: Vec<EncodedText<T>>,
    /// `[examples]` class indices.
    pub labels: Arc<ArrayD<T>>,
    pub len: usize,
}

/// A table data set, ready for a model.
#[derive(Clone, Debug)]
pub struct TableData<T> {
    pub train: TableSplit<T>,
    pub valid: TableSplit<T>,
    pub test: TableSplit<T>,
    /// Encodes new texts the same way ([`encode`]).
    pub vocabulary: Vocabulary,
    /// `[V, dim]`, row `i` the vector of token id `i`.
    pub embeddings: Arc<ArrayD<T>>,
    /// Class `k` is `label_names[k]`.
    pub label_names: Vec<String>,
}

impl<T> TableData<T> {
    pub fn split(&self, part: Part) -> &TableSplit<T> {
        match part {
            Part::Train => &self.train,
            Part::Valid => &self.valid,
            Part::Test => &self.test,
        }
    }
}

/// Reads, tokenises, splits and encodes the data `table` describes.
pub fn load<T: Real>(table: &Table) -> Result<TableData<T>, TableError> {
    let examples = read_examples(table)?;
    let vocabulary = build_vocabulary(&examples, &table.embeddings)?;
    let encode_split = |examples: &[Example]| encode(examples, &table.texts, &vocabulary);
    Ok(TableData {
        train: encode_split(&examples.train),
        valid: encode_split(&examples.valid),
        test: encode_split(&examples.test),
        embeddings: Arc::new(vocabulary.embedding_table()),
        label_names: table.label.names.clone(),
        vocabulary,
    })
}

/// The tokenised examples of each split, by `table`'s split rule. An
/// error names its file absolute.
pub fn read_examples(table: &Table) -> Result<Examples, TableError> {
    split_examples(table).map_err(TableError::with_absolute_path)
}

fn split_examples(table: &Table) -> Result<Examples, TableError> {
    let problems = table.problems();
    if !problems.is_empty() {
        return Err(TableError::Config(problems));
    }
    let reader = Reader::new(table);
    let examples = match &table.split {
        SplitRule::Column {
            file,
            column,
            train,
            valid,
            test,
        } => reader.by_column(file, (column, [train, valid, test]))?,
        SplitRule::Files { train, valid, test } => Examples {
            train: reader.whole_file(train, Part::Train)?,
            valid: reader.whole_file(valid, Part::Valid)?,
            test: reader.whole_file(test, Part::Test)?,
        },
        SplitRule::Holdout {
            file,
            fraction,
            seed,
            test,
        } => {
            let (train, valid) = reader.held_out(file, *fraction, *seed)?;
            Examples {
                train,
                valid,
                test: reader.whole_file(test, Part::Test)?,
            }
        }
    };
    Ok(examples)
}

/// The vocabulary of `examples` with the vectors `embeddings` names.
pub fn build_vocabulary(
    examples: &Examples,
    embeddings: &Embeddings,
) -> Result<Vocabulary, TableError> {
    let vectors = read_vectors(embeddings).map_err(TableError::Vectors)?;
    Ok(Vocabulary::build(
        tokens(&examples.train),
        tokens(&examples.valid).chain(tokens(&examples.test)),
        vectors.as_ref(),
        embeddings.dim(),
        lookup_forms,
    ))
}

/// Every token of a split, in order.
fn tokens(split: &[Example]) -> impl Iterator<Item = &str> {
    split
        .iter()
        .flat_map(|e| e.texts.iter().flatten().map(String::as_str))
}

/// The spellings under which a token is looked up in a word-vector file,
/// in order: as written, then lowercased.
pub fn lookup_forms(token: &str) -> Vec<String> {
    let lower = token.to_lowercase();
    if lower == token {
        vec![lower]
    } else {
        vec![token.to_string(), lower]
    }
}

/// `examples` as token ids, one array per text field; every example has
/// one text per field, as [`read_examples`] makes them.
pub fn encode<T: Real>(
    examples: &[Example],
    fields: &[TextField],
    voc: &Vocabulary,
) -> TableSplit<T> {
    let texts = fields
        .iter()
        .enumerate()
        .map(|(k, field)| encode_text(examples, k, &field.name, voc))
        .collect();
    let labels = Array1::from_iter(examples.iter().map(|e| T::of(e.label as f64)));
    TableSplit {
        texts,
        labels: Arc::new(labels.into_dyn()),
        len: examples.len(),
    }
}

/// Text `k` of every example, padded to the longest.
fn encode_text<T: Real>(
    examples: &[Example],
    k: usize,
    name: &str,
    voc: &Vocabulary,
) -> EncodedText<T> {
    let lengths: Vec<usize> = examples.iter().map(|e| e.texts[k].len()).collect();
    let width = lengths.iter().copied().max().unwrap_or(0);
    let mut tokens = ArrayD::<T>::zeros(IxDyn(&[examples.len(), width]));
    for (i, e) in examples.iter().enumerate() {
        for (j, t) in e.texts[k].iter().enumerate() {
            tokens[[i, j]] = T::of(voc.id(t) as f64);
        }
    }
    EncodedText {
        name: name.to_string(),
        tokens: Arc::new(tokens),
        lengths,
    }
}

/// A record to classify with a trained model: its texts as written and as
/// tokens, and its class when the file gives a label that is one.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    pub line: usize,
    pub raw: Vec<String>,
    pub texts: Vec<Vec<String>>,
    pub gold: Option<usize>,
}

/// Every record of `path`, read with `table`'s format, fields and
/// tokenisation, for predictions: the split column is not read, the label
/// may be absent (the whole TSV column, or a JSON record's key), and a
/// skipped label (SNLI's `-`) keeps the record without a gold class. A
/// label that is neither a class nor skipped is still an error: it says
/// the file is not the kind the model was trained on.
pub fn read_queries(table: &Table, path: &Path) -> Result<Vec<Query>, TableError> {
    read_query_text(table, path, &read_text(path)?)
}

/// [`read_queries`] on text already read (standard input); `path` names
/// it in errors.
pub fn read_query_text(table: &Table, path: &Path, text: &str) -> Result<Vec<Query>, TableError> {
    let reader = Reader::new(table);
    let mut columns: Vec<(&str, Cell)> = table
        .texts
        .iter()
        .map(|t| (t.column.as_str(), Cell::Text))
        .collect();
    columns.push((&table.label.column, Cell::MaybeLabel));
    let n = table.texts.len();
    let queries = rows_of_text(path, text, table.format, &columns)?
        .into_iter()
        .map(|row| {
            let gold = match row.cells[n].as_deref() {
                None => None,
                Some(label) => reader.class(label).map_err(|p| {
                    FileError::new(path, p)
                        .at_line(row.line)
                        .in_field(&table.label.column)
                })?,
            };
            Ok(Query {
                line: row.line,
                texts: reader.tokens(path, &row)?,
                raw: (0..n).map(|k| row.cell(k).to_string()).collect(),
                gold,
            })
        })
        .collect::<Result<Vec<_>, FileError>>()?;
    if queries.is_empty() {
        return Err(FileError::new(path, Problem::NoRecords).into());
    }
    Ok(queries)
}

/// A record as read: its split under a split column, and its example,
/// `None` when its label is skipped.
struct Record {
    part: Option<Part>,
    example: Option<Example>,
}

/// The split column's name and its train, valid and test values.
type SplitColumn<'s> = (&'s str, [&'s String; 3]);

/// Reads records the way one table configuration says.
struct Reader<'a> {
    table: &'a Table,
    /// The class names and skipped labels, lowercased for matching.
    names: Vec<String>,
    skip: Vec<String>,
}

impl<'a> Reader<'a> {
    fn new(table: &'a Table) -> Reader<'a> {
        let lower = |v: &[String]| v.iter().map(|s| s.to_lowercase()).collect();
        Reader {
            table,
            names: lower(&table.label.names),
            skip: lower(&table.label.skip),
        }
    }

    /// Every record of a file that is one whole split.
    fn whole_file(&self, path: &Path, part: Part) -> Result<Vec<Example>, FileError> {
        let records = self.records(path, None)?;
        let read = records.len();
        let examples = records.into_iter().filter_map(|r| r.example).collect();
        non_empty(examples, part, path, None, || {
            if read == 0 {
                "the file has no records".to_string()
            } else {
                format!("all {read} records have skipped labels")
            }
        })
    }

    /// The three splits of one file, by the value of its split column.
    fn by_column(&self, path: &Path, split: SplitColumn) -> Result<Examples, FileError> {
        let mut examples = Examples {
            train: Vec::new(),
            valid: Vec::new(),
            test: Vec::new(),
        };
        for r in self.records(path, Some(split))? {
            if let (Some(part), Some(example)) = (r.part, r.example) {
                examples.split_mut(part).push(example);
            }
        }
        let (column, values) = split;
        for (part, value) in Part::ALL.into_iter().zip(values) {
            let none = examples.split(part).is_empty();
            if none {
                let why = format!("no record with a class label has `{value}` here");
                let problem = Problem::EmptySplit { split: part, why };
                return Err(FileError::new(path, problem).in_field(column));
            }
        }
        Ok(examples)
    }

    /// `(train, valid)` from one file by [`holdout`], over all its records.
    fn held_out(
        &self,
        path: &Path,
        fraction: f64,
        seed: u64,
    ) -> Result<(Vec<Example>, Vec<Example>), FileError> {
        let mut slots: Vec<Option<Example>> = self
            .records(path, None)?
            .into_iter()
            .map(|r| r.example)
            .collect();
        let n = slots.len();
        let (train_idx, valid_idx) = holdout(n, fraction, seed);
        let mut take = |idx: &[usize]| -> Vec<Example> {
            idx.iter().filter_map(|&i| slots[i].take()).collect()
        };
        let (train, valid) = (take(&train_idx), take(&valid_idx));
        let held = format!("round({fraction} × {n} records) = {}", valid_idx.len());
        let train = non_empty(train, Part::Train, path, None, || match train_idx.len() {
            0 => format!("{held} held out, none left"),
            k => format!("the {k} records not held out all have skipped labels"),
        })?;
        let valid = non_empty(valid, Part::Valid, path, None, || match valid_idx.len() {
            0 => format!("{held} held out"),
            k => format!("the {k} held-out records all have skipped labels"),
        })?;
        Ok((train, valid))
    }

    /// The records of a file, with their splits under a split column.
    fn records(&self, path: &Path, split: Option<SplitColumn>) -> Result<Vec<Record>, FileError> {
        let table = self.table;
        let mut columns: Vec<(&str, Cell)> = table
            .texts
            .iter()
            .map(|t| (t.column.as_str(), Cell::Text))
            .collect();
        columns.push((&table.label.column, Cell::Label));
        if let Some((column, _)) = split {
            columns.push((column, Cell::Text));
        }
        let rows = read_rows(path, table.format, &columns)?;
        rows.into_iter()
            .map(|row| self.record(path, row, split))
            .collect()
    }

    /// A row's cells are the texts, the label and perhaps the split value,
    /// in that order ([`Reader::records`] asks for them so). Checked in
    /// that order too: the label, the split, then the texts' tokens.
    fn record(
        &self,
        path: &Path,
        row: Row,
        split: Option<SplitColumn>,
    ) -> Result<Record, FileError> {
        let at = |field: &str, problem| {
            FileError::new(path, problem)
                .at_line(row.line)
                .in_field(field)
        };
        let table = self.table;
        let n = table.texts.len();
        let class = self
            .class(row.cell(n))
            .map_err(|p| at(&table.label.column, p))?;
        let part = match split {
            None => None,
            Some((column, values)) => {
                Some(split_of(row.cell(n + 1), values).map_err(|p| at(column, p))?)
            }
        };
        let Some(label) = class else {
            // A skipped record's texts are never used, so never checked.
            return Ok(Record {
                part,
                example: None,
            });
        };
        let texts = self.tokens(path, &row)?;
        Ok(Record {
            part,
            example: Some(Example {
                line: row.line,
                texts,
                label,
            }),
        })
    }

    /// The tokens of a row's texts (its first cells), each text with one
    /// token at least.
    fn tokens(&self, path: &Path, row: &Row) -> Result<Vec<Vec<String>>, FileError> {
        let table = self.table;
        table
            .texts
            .iter()
            .enumerate()
            .map(|(k, field)| {
                let text = row.cell(k);
                let tokens = tokenize(text, table.tokenize.lowercase);
                if tokens.is_empty() {
                    let problem = Problem::EmptyText(text.to_string());
                    let e = FileError::new(path, problem).at_line(row.line);
                    return Err(e.in_field(&field.column));
                }
                Ok(tokens)
            })
            .collect()
    }

    /// The class of a label; `None` when it is skipped.
    fn class(&self, label: &str) -> Result<Option<usize>, Problem> {
        let key = label.to_lowercase();
        if let Some(k) = self.names.iter().position(|n| *n == key) {
            return Ok(Some(k));
        }
        if self.skip.contains(&key) {
            return Ok(None);
        }
        Err(Problem::UnknownLabel {
            label: label.to_string(),
            known: self.table.label.names.clone(),
            skipped: self.table.label.skip.clone(),
        })
    }
}

/// The split a split-column value names (values compared lowercased).
fn split_of(value: &str, values: [&String; 3]) -> Result<Part, Problem> {
    let key = value.to_lowercase();
    Part::ALL
        .into_iter()
        .zip(values)
        .find(|(_, v)| v.to_lowercase() == key)
        .map(|(part, _)| part)
        .ok_or_else(|| Problem::UnknownSplit {
            value: value.to_string(),
            values: values.map(String::clone),
        })
}

/// `examples`, or the error that `part` has none.
fn non_empty(
    examples: Vec<Example>,
    part: Part,
    path: &Path,
    field: Option<&str>,
    why: impl FnOnce() -> String,
) -> Result<Vec<Example>, FileError> {
    if !examples.is_empty() {
        return Ok(examples);
    }
    let e = FileError::new(
        path,
        Problem::EmptySplit {
            split: part,
            why: why(),
        },
    );
    Err(match field {
        Some(f) => e.in_field(f),
        None => e,
    })
}

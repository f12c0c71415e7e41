//! Diagnostics as data, and their two renderings: miette's graphical report
//! for people, JSON for editors and CI.
//!
//! Each stage has its own enum of error kinds (`syntax::ParseError`,
//! `check::CheckError`, …) that turns into a [`Diagnostic`] in one place; this
//! module knows nothing of their wording.

use crate::span::{FileId, Sources, Span};
use serde::Serialize;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    pub span: Span,
    pub text: String,
}

/// One problem found in a spec: a stable code, a message, the span it is
/// about (the primary label), optional secondary labels and a help line.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    pub primary: Label,
    pub secondary: Vec<Label>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(
        code: &'static str,
        message: impl Into<String>,
        span: Span,
        label: impl Into<String>,
    ) -> Self {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            primary: Label {
                span,
                text: label.into(),
            },
            secondary: Vec::new(),
            help: None,
        }
    }

    pub fn with_help(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }

    pub fn with_secondary(mut self, span: Span, text: impl Into<String>) -> Self {
        self.secondary.push(Label {
            span,
            text: text.into(),
        });
        self
    }

    pub fn warning(mut self) -> Self {
        self.severity = Severity::Warning;
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    pub fn file(&self) -> FileId {
        self.primary.span.file
    }
}

/// Orders diagnostics by file and position, so output reads top to bottom.
pub fn sort(diags: &mut [Diagnostic]) {
    diags.sort_by_key(|d| {
        (
            d.primary.span.file,
            d.primary.span.start,
            d.primary.span.end,
        )
    });
}

// ---------------------------------------------------------------------------
// miette bridge

/// A diagnostic together with the sources its spans point into.
struct Bridged<'a> {
    diag: &'a Diagnostic,
    sources: &'a Sources,
    source: Window<'a>,
    help: Option<String>,
}

/// A source file as miette reads it, without copying it: a span's context
/// is found from the file's line index and handed to miette as the few
/// lines around it. (miette's own `&str` source counts lines from the start
/// of the text for every span, which made printing many diagnostics of a
/// long file quadratic.)
struct Window<'a> {
    file: &'a crate::span::SourceFile,
}

impl miette::SourceCode for Window<'_> {
    fn read_span<'b>(
        &'b self,
        span: &miette::SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'b> + 'b>, miette::MietteError> {
        let f = self.file;
        let (from, to) = (span.offset(), span.offset() + span.len());
        if to > f.text.len() {
            return Err(miette::MietteError::OutOfBounds);
        }
        // A margin of lines beyond the context, so that miette's reading of
        // the window is its reading of the whole text.
        let first = f.line_index(from).saturating_sub(before + 2);
        let last = f.line_index(to) + after + 2;
        let window = f.lines_range(first, last);
        let text = &f.text[window.clone()];
        let local = miette::SourceSpan::new((from - window.start).into(), span.len());
        let inner = text.read_span(&local, before, after)?;
        let at = miette::SourceSpan::new(
            (inner.span().offset() + window.start).into(),
            inner.span().len(),
        );
        Ok(Box::new(miette::MietteSpanContents::new_named(
            f.name.clone(),
            inner.data(),
            at,
            inner.line() + first,
            inner.column(),
            // miette's `&str` source counts this from the start of the
            // text (its renderer merges labels' snippets on that number).
            inner.line_count() + first,
        )))
    }
}

impl<'a> Bridged<'a> {
    fn new(diag: &'a Diagnostic, sources: &'a Sources) -> Self {
        let file = sources.get(diag.file());
        // Secondary labels in another file (a definition in the prelude or in
        // a `use`d file) cannot be drawn on this file's snippet: they become
        // notes in the help text instead.
        let mut help = diag.help.clone();
        for l in diag.secondary.iter().filter(|l| l.span.file != diag.file()) {
            let note = format!("{} ({})", l.text, sources.location(l.span));
            help = Some(match help {
                Some(h) => format!("{h}\n{note}"),
                None => note,
            });
        }
        Bridged {
            diag,
            sources,
            source: Window { file },
            help,
        }
    }
}

impl fmt::Debug for Bridged<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.diag, f)
    }
}

impl fmt::Display for Bridged<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}

impl std::error::Error for Bridged<'_> {}

fn miette_span(s: Span) -> miette::SourceSpan {
    (s.start as usize, s.len()).into()
}

impl miette::Diagnostic for Bridged<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(self.diag.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diag.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h.as_str()) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let file = self.diag.file();
        let _ = self.sources;
        let primary = miette::LabeledSpan::new_primary_with_span(
            Some(self.diag.primary.text.clone()),
            miette_span(self.diag.primary.span),
        );
        let secondary = self
            .diag
            .secondary
            .iter()
            .filter(move |l| l.span.file == file)
            .map(|l| miette::LabeledSpan::new_with_span(Some(l.text.clone()), miette_span(l.span)));
        Some(Box::new(std::iter::once(primary).chain(secondary)))
    }
}

/// Renders one diagnostic as miette's graphical report.
pub fn render(diag: &Diagnostic, sources: &Sources, color: bool) -> String {
    let theme = if color {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_links(false);
    let bridged = Bridged::new(diag, sources);
    let mut out = String::new();
    if handler.render_report(&mut out, &bridged).is_err() {
        // Rendering only fails on a broken writer; fall back to one line.
        out = format!("{}: {}\n", diag.code, diag.message);
    }
    out
}

/// A diagnostic as JSON: 1-based line and column of the primary span's start
/// and end, for editors and CI annotations.
#[derive(Serialize)]
pub struct JsonDiagnostic {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    pub label: String,
    pub help: Option<String>,
    pub related: Vec<JsonLabel>,
}

#[derive(Serialize)]
pub struct JsonLabel {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

pub fn to_json(diag: &Diagnostic, sources: &Sources) -> JsonDiagnostic {
    let f = sources.get(diag.file());
    let (line, column) = f.line_col(diag.primary.span.start as usize);
    let (end_line, end_column) = f.line_col(diag.primary.span.end as usize);
    JsonDiagnostic {
        file: f.name.clone(),
        line,
        column,
        end_line,
        end_column,
        code: diag.code,
        severity: diag.severity,
        message: diag.message.clone(),
        label: diag.primary.text.clone(),
        help: diag.help.clone(),
        related: diag
            .secondary
            .iter()
            .map(|l| {
                let f = sources.get(l.span.file);
                let (line, column) = f.line_col(l.span.start as usize);
                JsonLabel {
                    file: f.name.clone(),
                    line,
                    column,
                    message: l.text.clone(),
                }
            })
            .collect(),
    }
}

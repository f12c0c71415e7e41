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
    source: miette::NamedSource<String>,
    help: Option<String>,
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
            source: miette::NamedSource::new(file.name.clone(), file.text.clone()),
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

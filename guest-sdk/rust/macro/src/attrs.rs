//! Parsing helpers shared by both macros: doc comments and literal defaults.

use syn::{Attribute, Expr, ExprLit, ExprUnary, Lit, UnOp};

/// The text of the `///` doc comments among `attrs`, one entry per line (leading space removed).
pub(crate) fn doc_lines(attrs: &[Attribute]) -> Vec<String> {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        })
        .flat_map(|s| {
            s.split('\n')
                .map(|l| l.trim().to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Doc lines as paragraphs: the lines of each paragraph joined by spaces.
pub(crate) fn paragraphs(lines: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Vec<&str> = Vec::new();
    for line in lines {
        if line.is_empty() {
            if !cur.is_empty() {
                out.push(cur.join(" "));
                cur.clear();
            }
        } else {
            cur.push(line);
        }
    }
    if !cur.is_empty() {
        out.push(cur.join(" "));
    }
    out
}

/// The whole doc comment, paragraphs separated by a blank line (a flow's doc).
pub(crate) fn doc_text(attrs: &[Attribute]) -> String {
    paragraphs(&doc_lines(attrs)).join("\n\n")
}

/// The first paragraph of the doc comment on one line (a step's doc, a parameter's help).
pub(crate) fn doc_summary(attrs: &[Attribute]) -> String {
    paragraphs(&doc_lines(attrs))
        .into_iter()
        .next()
        .unwrap_or_default()
}

/// A default written as a literal (`10`, `-3`, `0.5`, `true`, `"world"`) as the command-line text
/// the host parses.
pub(crate) fn literal_text(expr: &Expr) -> syn::Result<String> {
    let bad = || {
        syn::Error::new_spanned(
            expr,
            "expected a literal default: a string, an integer, a float or a bool",
        )
    };
    match expr {
        Expr::Lit(ExprLit { lit, .. }) => match lit {
            Lit::Str(s) => Ok(s.value()),
            Lit::Int(i) => Ok(i.base10_digits().to_string()),
            Lit::Float(f) => Ok(f.base10_digits().to_string()),
            Lit::Bool(b) => Ok(b.value.to_string()),
            _ => Err(bad()),
        },
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr: inner,
            ..
        }) => match &**inner {
            Expr::Lit(ExprLit {
                lit: Lit::Int(i), ..
            }) => Ok(format!("-{}", i.base10_digits())),
            Expr::Lit(ExprLit {
                lit: Lit::Float(f), ..
            }) => Ok(format!("-{}", f.base10_digits())),
            _ => Err(bad()),
        },
        Expr::Group(g) => literal_text(&g.expr),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    #[test]
    fn docs_become_paragraphs() {
        let item: syn::ItemStruct = parse_quote! {
            /// Says hello
            /// to someone.
            ///
            /// Second paragraph.
            #[derive(Debug)]
            struct S;
        };
        assert_eq!(
            doc_text(&item.attrs),
            "Says hello to someone.\n\nSecond paragraph."
        );
        assert_eq!(doc_summary(&item.attrs), "Says hello to someone.");
        let none: syn::ItemStruct = parse_quote! { struct S; };
        assert_eq!(doc_summary(&none.attrs), "");
    }

    #[test]
    fn literals_become_command_line_text() {
        let cases: Vec<(Expr, &str)> = vec![
            (parse_quote!(10), "10"),
            (parse_quote!(10i64), "10"),
            (parse_quote!(-3), "-3"),
            (parse_quote!(0.5), "0.5"),
            (parse_quote!(-2.5e3), "-2.5e3"),
            (parse_quote!(true), "true"),
            (parse_quote!("world"), "world"),
            (parse_quote!(1_000), "1000"),
        ];
        for (expr, want) in cases {
            assert_eq!(literal_text(&expr).unwrap(), want);
        }
        let err = literal_text(&parse_quote!(x + 1)).unwrap_err();
        assert!(err.to_string().contains("expected a literal default"));
        assert!(literal_text(&parse_quote!(-"x")).is_err());
    }
}

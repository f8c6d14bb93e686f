//! `#[flow]`: binds a struct's fields to a task and lists its parameters.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::ext::IdentExt;
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{Expr, Fields, ItemStruct, LitStr};

use crate::attrs::{doc_summary, doc_text, literal_text};

/// Options of `#[flow(…)]`.
#[derive(Default)]
pub(crate) struct FlowArgs {
    pub(crate) name: Option<LitStr>,
}

pub(crate) fn parse_flow_args(attr: TokenStream) -> syn::Result<FlowArgs> {
    let mut args = FlowArgs::default();
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("name") {
            if args.name.is_some() {
                return Err(meta.error("`name` given twice"));
            }
            let name: LitStr = meta.value()?.parse()?;
            if name.value().is_empty() {
                return Err(syn::Error::new_spanned(
                    &name,
                    "the flow name must not be empty",
                ));
            }
            args.name = Some(name);
            Ok(())
        } else {
            Err(meta.error("unknown `flow` option; expected `name = \"…\"`"))
        }
    });
    parser.parse2(attr)?;
    Ok(args)
}

/// A `#[param(…)]` attribute on a field.
#[derive(Default)]
pub(crate) struct ParamArgs {
    /// The span of the attribute, for the "is it a parameter?" check.
    pub(crate) span: Option<Span>,
    pub(crate) default: Option<Expr>,
    pub(crate) help: Option<LitStr>,
}

pub(crate) fn parse_param_attr(attr: &syn::Attribute) -> syn::Result<ParamArgs> {
    let mut args = ParamArgs {
        span: Some(attr.span()),
        ..ParamArgs::default()
    };
    if let syn::Meta::Path(_) = attr.meta {
        return Ok(args);
    }
    attr.parse_nested_meta(|meta| {
        if meta.path.is_ident("default") {
            if args.default.is_some() {
                return Err(meta.error("`default` given twice"));
            }
            let expr: Expr = meta.value()?.parse()?;
            literal_text(&expr)?;
            args.default = Some(expr);
            Ok(())
        } else if meta.path.is_ident("help") {
            if args.help.is_some() {
                return Err(meta.error("`help` given twice"));
            }
            args.help = Some(meta.value()?.parse()?);
            Ok(())
        } else {
            Err(meta
                .error("unknown `param` option; expected `default = <literal>` or `help = \"…\"`"))
        }
    })?;
    Ok(args)
}

pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let args = parse_flow_args(attr)?;
    let mut item: ItemStruct = syn::parse2(item).map_err(|e| {
        syn::Error::new(
            e.span(),
            "#[wflow::flow] goes on a struct with named fields",
        )
    })?;
    if !item.generics.params.is_empty() || item.generics.where_clause.is_some() {
        return Err(syn::Error::new_spanned(
            &item.generics,
            "a flow struct cannot be generic",
        ));
    }
    let Fields::Named(fields) = &mut item.fields else {
        return Err(syn::Error::new_spanned(
            &item,
            "a flow struct needs named fields (each a `Param`, an `Artifact` or a `RawArtifact`)",
        ));
    };

    let ident = &item.ident;
    let flow_name = args
        .name
        .map(|n| n.value())
        .unwrap_or_else(|| ident.unraw().to_string());
    let flow_doc = doc_text(&item.attrs);

    let mut binds = Vec::new();
    let mut saves = Vec::new();
    let mut params = Vec::new();
    let mut checks = Vec::new();
    for field in fields.named.iter_mut() {
        let mut param: Option<ParamArgs> = None;
        let mut keep = Vec::new();
        for attr in field.attrs.drain(..) {
            if attr.path().is_ident("param") {
                if param.is_some() {
                    return Err(syn::Error::new_spanned(&attr, "`#[param]` given twice"));
                }
                param = Some(parse_param_attr(&attr)?);
            } else {
                keep.push(attr);
            }
        }
        field.attrs = keep;

        let fident = field.ident.as_ref().expect("named field");
        let fname = fident.unraw().to_string();
        if fname.starts_with('_') {
            return Err(syn::Error::new_spanned(
                fident,
                "names starting with `_` are reserved for wflow; rename this field",
            ));
        }
        let ty = &field.ty;
        binds.push(quote! { #fident: <#ty as ::wflow::Field>::bind(#fname, source) });
        saves.push(quote! { <#ty as ::wflow::Field>::save(&mut self.#fident)?; });

        let param = param.unwrap_or_default();
        let help = match &param.help {
            Some(h) => h.value(),
            None => doc_summary(&field.attrs),
        };
        let default = match &param.default {
            Some(expr) => {
                let text = literal_text(expr)?;
                quote! { ::core::option::Option::Some(#text) }
            }
            None => quote! { ::core::option::Option::None },
        };
        params.push(quote! {
            params.extend(<#ty as ::wflow::Field>::param_spec(#fname, #default, #help));
        });
        if let Some(span) = param.span {
            checks.push(quote_spanned! {span=> ::wflow::__private::assert_param::<#ty>(); });
        }
        if let Some(expr) = &param.default {
            checks.push(quote_spanned! {expr.span()=>
                let _: <#ty as ::wflow::__private::ParamField>::Literal = #expr;
            });
        }
    }

    Ok(quote! {
        #item

        const _: () = {
            #[automatically_derived]
            impl ::wflow::FlowFields for #ident {
                const NAME: &'static str = #flow_name;
                const DOC: &'static str = #flow_doc;

                fn bind(source: ::wflow::Source) -> Self {
                    Self { #(#binds,)* }
                }

                fn save(&mut self) -> ::wflow::Result<()> {
                    #(#saves)*
                    ::core::result::Result::Ok(())
                }

                fn parameters() -> ::std::vec::Vec<::wflow::ParamSpec> {
                    let mut params = ::std::vec::Vec::new();
                    #(#params)*
                    params
                }
            }

            // Compile-time checks of the `#[param]` attributes (never called).
            let _: fn() = || {
                #(#checks)*
            };
        };
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn expand_str(attr: TokenStream, item: TokenStream) -> Result<String, String> {
        expand(attr, item)
            .map(|t| t.to_string())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn flow_args() {
        assert!(parse_flow_args(quote!()).unwrap().name.is_none());
        assert_eq!(
            parse_flow_args(quote!(name = "X"))
                .unwrap()
                .name
                .unwrap()
                .value(),
            "X"
        );
        let err = parse_flow_args(quote!(nam = "X"))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("unknown `flow` option"), "{err}");
        assert!(parse_flow_args(quote!(name = "")).is_err());
        assert!(parse_flow_args(quote!(name = "a", name = "b")).is_err());
    }

    #[test]
    fn param_attrs() {
        let f: syn::Field =
            parse_quote! { #[param(default = 10, help = "how many")] n: Param<i64> };
        let p = parse_param_attr(&f.attrs[0]).unwrap();
        assert_eq!(literal_text(p.default.as_ref().unwrap()).unwrap(), "10");
        assert_eq!(p.help.unwrap().value(), "how many");

        let f: syn::Field = parse_quote! { #[param] n: Param<i64> };
        let p = parse_param_attr(&f.attrs[0]).unwrap();
        assert!(p.default.is_none() && p.span.is_some());

        let f: syn::Field = parse_quote! { #[param(defualt = 1)] n: Param<i64> };
        let err = parse_param_attr(&f.attrs[0]).err().unwrap().to_string();
        assert!(err.contains("unknown `param` option"), "{err}");

        let f: syn::Field = parse_quote! { #[param(default = some_fn())] n: Param<i64> };
        assert!(parse_param_attr(&f.attrs[0]).is_err());
    }

    #[test]
    fn expands_bind_save_and_params() {
        let out = expand_str(
            quote!(),
            quote! {
                /// Says hello.
                pub struct Hello {
                    /// Who to greet.
                    #[param(default = "world")]
                    name: Param<String>,
                    greeting: Artifact<String>,
                }
            },
        )
        .unwrap();
        assert!(
            out.contains("const NAME : & 'static str = \"Hello\""),
            "{out}"
        );
        assert!(out.contains("\"Says hello.\""), "{out}");
        assert!(out.contains("bind (\"greeting\" , source)"), "{out}");
        assert!(out.contains("param_spec (\"name\" , :: core :: option :: Option :: Some (\"world\") , \"Who to greet.\")"), "{out}");
        // The `#[param]` attribute is consumed, the doc comment kept.
        assert!(!out.contains("# [param"), "{out}");
        assert!(out.contains("# [doc = r\" Who to greet.\"] name"), "{out}");
    }

    #[test]
    fn renamed_flow() {
        let out = expand_str(
            quote!(name = "Other"),
            quote! { struct S { a: Artifact<i64> } },
        )
        .unwrap();
        assert!(out.contains("\"Other\""), "{out}");
    }

    #[test]
    fn rejects_bad_structs() {
        let err = expand_str(quote!(), quote! { struct S(Artifact<i64>); }).unwrap_err();
        assert!(err.contains("named fields"), "{err}");
        let err = expand_str(quote!(), quote! { struct S<T> { a: T } }).unwrap_err();
        assert!(err.contains("cannot be generic"), "{err}");
        let err = expand_str(quote!(), quote! { enum E { A } }).unwrap_err();
        assert!(err.contains("struct with named fields"), "{err}");
        let err = expand_str(
            quote!(),
            quote! { struct S { #[param] #[param] a: Param<i64> } },
        )
        .unwrap_err();
        assert!(err.contains("given twice"), "{err}");
        let err = expand_str(quote!(), quote! { struct S { _a: Artifact<i64> } }).unwrap_err();
        assert!(err.contains("reserved for wflow"), "{err}");
    }
}

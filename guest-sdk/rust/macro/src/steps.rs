//! `#[steps]`: the flow's spec, the dispatch of `run-step` and the export.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::parse::ParseStream;
use syn::spanned::Spanned;
use syn::{FnArg, Ident, ImplItem, ImplItemFn, ItemImpl, LitInt, LitStr, Token};

use crate::attrs::doc_summary;

/// What runs after a step, as written in `#[step(…)]`.
pub(crate) enum Next {
    /// No `next` and no `foreach`: the step ends the flow.
    End,
    /// `next = "b"` or `next = ["b", "c"]`.
    Steps(Vec<LitStr>),
    /// `foreach = "b", items = "field"`.
    Foreach { target: LitStr, items: LitStr },
    /// `switch = ["b", "c"]`, with `max_iterations = n` for a loop: the step chooses one.
    Switch {
        choices: Vec<LitStr>,
        max_iterations: Option<u32>,
    },
}

/// A parsed `#[step(…)]` attribute.
pub(crate) struct StepArgs {
    pub(crate) next: Next,
    pub(crate) join: bool,
    pub(crate) retries: Option<u32>,
    pub(crate) timeout: Option<u32>,
    pub(crate) memory: Option<u32>,
    pub(crate) cpu: Option<u32>,
    pub(crate) catch: Option<LitStr>,
    pub(crate) compute: Option<LitStr>,
    pub(crate) env: Vec<LitStr>,
    pub(crate) network: Vec<LitStr>,
    pub(crate) clock: bool,
    pub(crate) random: bool,
    pub(crate) secrets: Vec<LitStr>,
}

const KEYS: &str = "next, foreach, items, switch, max_iterations, join, retries, timeout, memory, \
                    cpu, catch, compute, env, network, clock, random, secrets";

/// One string or a bracketed list of strings.
fn parse_names(input: ParseStream) -> syn::Result<Vec<LitStr>> {
    if input.peek(syn::token::Bracket) {
        let content;
        let brackets = syn::bracketed!(content in input);
        let names = content.parse_terminated(|s: ParseStream| s.parse::<LitStr>(), Token![,])?;
        if names.is_empty() {
            return Err(syn::Error::new(
                brackets.span.join(),
                "expected at least one step name",
            ));
        }
        Ok(names.into_iter().collect())
    } else {
        Ok(vec![input.parse::<LitStr>()?])
    }
}

fn parse_u32(input: ParseStream) -> syn::Result<u32> {
    let lit: LitInt = input.parse()?;
    lit.base10_parse::<u32>()
}

/// Parses a `#[step]` or `#[step(…)]` attribute.
pub(crate) fn parse_step_attr(attr: &syn::Attribute) -> syn::Result<StepArgs> {
    let mut next: Option<(Vec<LitStr>, proc_macro2::Span)> = None;
    let mut foreach: Option<LitStr> = None;
    let mut items: Option<LitStr> = None;
    let mut switch: Option<(Vec<LitStr>, proc_macro2::Span)> = None;
    let mut max_iterations: Option<(u32, proc_macro2::Span)> = None;
    let mut args = StepArgs {
        next: Next::End,
        join: false,
        retries: None,
        timeout: None,
        memory: None,
        cpu: None,
        catch: None,
        compute: None,
        env: Vec::new(),
        network: Vec::new(),
        clock: false,
        random: false,
        secrets: Vec::new(),
    };
    if let syn::Meta::Path(_) = attr.meta {
        return Ok(args);
    }
    let mut seen: Vec<String> = Vec::new();
    attr.parse_nested_meta(|meta| {
        let key = meta
            .path
            .get_ident()
            .map(|i| i.to_string())
            .unwrap_or_default();
        if seen.contains(&key) {
            return Err(meta.error(format_args!("`{key}` given twice")));
        }
        seen.push(key.clone());
        match key.as_str() {
            "next" => next = Some((parse_names(meta.value()?)?, meta.path.span())),
            "foreach" => foreach = Some(meta.value()?.parse()?),
            "items" => items = Some(meta.value()?.parse()?),
            "switch" => switch = Some((parse_names(meta.value()?)?, meta.path.span())),
            "max_iterations" => {
                max_iterations = Some((parse_u32(meta.value()?)?, meta.path.span()));
            }
            "join" => args.join = true,
            "retries" => args.retries = Some(parse_u32(meta.value()?)?),
            "timeout" => args.timeout = Some(parse_u32(meta.value()?)?),
            "memory" => args.memory = Some(parse_u32(meta.value()?)?),
            "cpu" => args.cpu = Some(parse_u32(meta.value()?)?),
            "catch" => {
                let name: LitStr = meta.value()?.parse()?;
                let v = name.value();
                if v.is_empty() || v.contains('/') || v.starts_with('_') {
                    return Err(syn::Error::new_spanned(
                        name,
                        "an artifact name is not empty, has no `/` and does not start with `_`",
                    ));
                }
                args.catch = Some(name);
            }
            "compute" => args.compute = Some(meta.value()?.parse()?),
            "env" => args.env = parse_names(meta.value()?)?,
            "network" => args.network = parse_names(meta.value()?)?,
            "clock" => args.clock = true,
            "random" => args.random = true,
            "secrets" => args.secrets = parse_names(meta.value()?)?,
            _ => {
                return Err(meta.error(format_args!(
                    "unknown `step` option; expected one of: {KEYS}"
                )));
            }
        }
        Ok(())
    })?;
    if let Some((choices, span)) = switch {
        if next.is_some() || foreach.is_some() || items.is_some() {
            return Err(syn::Error::new(
                span,
                "a step has one of `next`, `foreach` or `switch`, not several",
            ));
        }
        if choices.len() < 2 {
            return Err(syn::Error::new(
                span,
                "a switch chooses between at least two steps: `switch = [\"a\", \"b\"]`",
            ));
        }
        args.next = Next::Switch {
            choices,
            max_iterations: max_iterations.map(|(n, _)| n),
        };
        return Ok(args);
    }
    if let Some((_, span)) = max_iterations {
        return Err(syn::Error::new(
            span,
            "`max_iterations` bounds a loop, which only a `switch` makes",
        ));
    }
    args.next = match (next, foreach, items) {
        (Some((_, span)), Some(_), _) => {
            return Err(syn::Error::new(
                span,
                "a step has either `next` or `foreach`, not both",
            ));
        }
        (Some((steps, _)), None, None) => Next::Steps(steps),
        (Some(_), None, Some(items)) | (None, None, Some(items)) => {
            return Err(syn::Error::new_spanned(
                items,
                "`items` goes with `foreach = \"…\"`",
            ));
        }
        (None, Some(target), Some(items)) => Next::Foreach { target, items },
        (None, Some(target), None) => {
            return Err(syn::Error::new_spanned(
                target,
                "a foreach step needs `items = \"field\"`: the `Artifact<Vec<T>>` field whose \
                 elements are the items",
            ));
        }
        (None, None, None) => Next::End,
    };
    Ok(args)
}

/// A step method found in the impl block.
struct Step {
    method: Ident,
    name: String,
    doc: String,
    args: StepArgs,
}

/// The identifier a field name string stands for, spanned at the string.
fn field_ident(lit: &LitStr) -> syn::Result<Ident> {
    let ident: Ident = syn::parse_str::<Ident>(&lit.value())
        .or_else(|_| Ident::parse_any.parse_str(&lit.value()))
        .map_err(|_| {
            syn::Error::new_spanned(lit, "expected the name of a field of the flow struct")
        })?;
    Ok(Ident::new(&ident.to_string(), lit.span()))
}

use syn::parse::Parser;

fn check_signature(f: &ImplItemFn, join: bool) -> syn::Result<()> {
    let sig = &f.sig;
    if let Some(a) = &sig.asyncness {
        return Err(syn::Error::new_spanned(a, "a step cannot be async"));
    }
    if !sig.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &sig.generics,
            "a step cannot be generic",
        ));
    }
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_some() => {}
        Some(other) => {
            return Err(syn::Error::new_spanned(
                other,
                "a step takes `&mut self` first",
            ));
        }
        None => return Err(syn::Error::new_spanned(sig, "a step takes `&mut self`")),
    }
    let rest: Vec<&FnArg> = inputs.collect();
    match (join, rest.as_slice()) {
        (false, []) | (true, [_]) => Ok(()),
        (false, [first, ..]) => Err(syn::Error::new_spanned(
            first,
            "only a join step takes inputs; mark the step `#[step(join, …)]` or remove this argument",
        )),
        (true, []) => Err(syn::Error::new_spanned(
            &sig.inputs,
            "a join step takes its inputs: `fn name(&mut self, inputs: wflow::Inputs<Self>)`",
        )),
        (true, [_, extra, ..]) => Err(syn::Error::new_spanned(
            extra,
            "a join step takes `&mut self` and `inputs: wflow::Inputs<Self>` only",
        )),
    }
}

/// Parses the options of `#[wflow::steps(…)]`: only `elsewhere = ["a", "b"]`, the steps of a
/// polyglot flow that other components provide (targets may name them; `start` and `end` may be
/// among them).
fn parse_elsewhere(attr: TokenStream) -> syn::Result<Vec<LitStr>> {
    let mut elsewhere = Vec::new();
    if attr.is_empty() {
        return Ok(elsewhere);
    }
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("elsewhere") {
            elsewhere = parse_names(meta.value()?)?;
            Ok(())
        } else {
            Err(meta.error(
                "unknown option; #[wflow::steps] takes only `elsewhere = [\"step\", …]` (steps of a \
                 polyglot flow provided by other components)",
            ))
        }
    });
    syn::parse::Parser::parse2(parser, attr)?;
    Ok(elsewhere)
}

pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let elsewhere = parse_elsewhere(attr)?;
    let mut block: ItemImpl = syn::parse2(item).map_err(|e| {
        syn::Error::new(
            e.span(),
            "#[wflow::steps] goes on the `impl` block of a #[wflow::flow] struct",
        )
    })?;
    if let Some((_, path, _)) = &block.trait_ {
        return Err(syn::Error::new_spanned(
            path,
            "#[wflow::steps] goes on an inherent `impl` block, not a trait impl",
        ));
    }
    if !block.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &block.generics,
            "a flow cannot be generic",
        ));
    }

    let mut steps: Vec<Step> = Vec::new();
    let mut errors: Option<syn::Error> = None;
    let mut push_err = |e: syn::Error| match &mut errors {
        Some(all) => all.combine(e),
        None => errors = Some(e),
    };
    for item in block.items.iter_mut() {
        let ImplItem::Fn(f) = item else { continue };
        let mut step_attr = None;
        let mut keep = Vec::new();
        for attr in f.attrs.drain(..) {
            if attr.path().is_ident("step") {
                if step_attr.is_some() {
                    push_err(syn::Error::new_spanned(&attr, "`#[step]` given twice"));
                    continue;
                }
                step_attr = Some(attr);
            } else {
                keep.push(attr);
            }
        }
        f.attrs = keep;
        let Some(attr) = step_attr else { continue };
        let args = match parse_step_attr(&attr) {
            Ok(a) => a,
            Err(e) => {
                push_err(e);
                continue;
            }
        };
        if let Err(e) = check_signature(f, args.join) {
            push_err(e);
            continue;
        }
        steps.push(Step {
            method: f.sig.ident.clone(),
            name: f.sig.ident.unraw().to_string(),
            doc: doc_summary(&f.attrs),
            args,
        });
    }

    // Checks that need every step: targets exist, only `end` ends, `start` and `end` exist.
    let mut names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
    let known = names.join(", ");
    let elsewhere: Vec<String> = elsewhere.iter().map(LitStr::value).collect();
    names.extend(elsewhere.iter().map(String::as_str));
    for step in &steps {
        let targets: Vec<&LitStr> = match &step.args.next {
            Next::End => Vec::new(),
            Next::Steps(v) => v.iter().collect(),
            Next::Foreach { target, .. } => vec![target],
            Next::Switch { choices, .. } => choices.iter().collect(),
        };
        for t in targets {
            if !names.contains(&t.value().as_str()) {
                push_err(syn::Error::new_spanned(
                    t,
                    format_args!(
                        "no step named `{}` in this impl block (its steps: {known})",
                        t.value()
                    ),
                ));
            }
        }
        match (&step.args.next, step.name.as_str()) {
            (Next::End, name) if name != "end" => push_err(syn::Error::new_spanned(
                &step.method,
                format_args!(
                    "step `{name}` has no `next` or `foreach`, so it would end the flow; only the \
                     step named `end` does that (add e.g. `#[step(next = \"end\")]`)"
                ),
            )),
            (Next::Steps(_) | Next::Foreach { .. } | Next::Switch { .. }, "end") => {
                push_err(syn::Error::new_spanned(
                    &step.method,
                    "the `end` step ends the flow: it takes no `next`, `foreach` or `switch`",
                ))
            }
            _ => {}
        }
    }
    for required in ["start", "end"] {
        if !names.contains(&required) {
            push_err(syn::Error::new_spanned(
                &block.self_ty,
                format_args!("a flow needs a `{required}` step: a method marked `#[step(…)]`"),
            ));
        }
    }
    if let Some(e) = errors {
        return Err(e);
    }

    let self_ty = &block.self_ty;
    let specs = steps.iter().map(step_spec);
    let mut arms = Vec::new();
    for step in &steps {
        let name = &step.name;
        let method = &step.method;
        let this = format_ident!("__wflow_this");
        let call = if step.args.join {
            quote_spanned! {method.span()=>
                Self::#method(&mut #this, ::wflow::Inputs::new())
            }
        } else {
            quote_spanned! {method.span()=> Self::#method(&mut #this) }
        };
        let declare = match &step.args.next {
            Next::Foreach { items, .. } => {
                let field = field_ident(items)?;
                quote_spanned! {items.span()=>
                    ::wflow::__private::declare_foreach(&#this.#field)?;
                }
            }
            _ => quote!(),
        };
        arms.push(quote! {
            #name => {
                let mut #this = <Self as ::wflow::FlowFields>::bind(::wflow::Source::Task);
                ::wflow::IntoStepResult::into_step_result(#call)?;
                ::wflow::FlowFields::save(&mut #this)?;
                #declare
                ::core::result::Result::Ok(())
            }
        });
    }

    Ok(quote! {
        #block

        const _: () = {
            #[automatically_derived]
            impl ::wflow::Flow for #self_ty {
                fn spec() -> ::wflow::FlowSpec {
                    ::wflow::FlowSpec::new(<Self as ::wflow::FlowFields>::NAME)
                        .doc(<Self as ::wflow::FlowFields>::DOC)
                        .params(<Self as ::wflow::FlowFields>::parameters())
                        #(.step(#specs))*
                }

                fn run_step(step: &str) -> ::wflow::Result<()> {
                    match step {
                        #(#arms)*
                        _ => ::core::result::Result::Err(::wflow::__private::unknown_step(
                            <Self as ::wflow::FlowFields>::NAME,
                            step,
                        )),
                    }
                }
            }


            ::wflow::export_flow!(#self_ty);
        };
    })
}

fn step_spec(step: &Step) -> TokenStream {
    let name = &step.name;
    let doc = &step.doc;
    let a = &step.args;
    let mut calls = Vec::new();
    match &a.next {
        Next::End => {}
        Next::Steps(v) if v.len() == 1 => {
            let t = &v[0];
            calls.push(quote! { .next(#t) });
        }
        Next::Steps(v) => calls.push(quote! { .branch([#(#v),*]) }),
        Next::Foreach { target, .. } => calls.push(quote! { .foreach(#target) }),
        Next::Switch {
            choices,
            max_iterations,
        } => {
            calls.push(quote! { .switch([#(#choices),*]) });
            if let Some(n) = max_iterations {
                calls.push(quote! { .max_iterations(#n) });
            }
        }
    }
    if a.join {
        calls.push(quote! { .join() });
    }
    if let Some(n) = a.retries {
        calls.push(quote! { .retries(#n) });
    }
    if let Some(n) = a.timeout {
        calls.push(quote! { .timeout_secs(#n) });
    }
    if let Some(n) = a.memory {
        calls.push(quote! { .memory_mb(#n) });
    }
    if let Some(n) = a.cpu {
        calls.push(quote! { .cpu(#n) });
    }
    if let Some(c) = &a.catch {
        calls.push(quote! { .catch(#c) });
    }
    if let Some(c) = &a.compute {
        calls.push(quote! { .compute(#c) });
    }
    for e in &a.env {
        calls.push(quote! { .env(#e) });
    }
    for n in &a.network {
        calls.push(quote! { .network(#n) });
    }
    if a.clock {
        calls.push(quote! { .clock() });
    }
    if a.random {
        calls.push(quote! { .random() });
    }
    for n in &a.secrets {
        calls.push(quote! { .secret(#n) });
    }
    quote! { ::wflow::StepSpec::new(#name).doc(#doc) #(#calls)* }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn step_attr(attr: syn::Attribute) -> Result<StepArgs, String> {
        parse_step_attr(&attr).map_err(|e| e.to_string())
    }

    #[test]
    fn parses_transitions() {
        let a = step_attr(parse_quote!(#[step])).unwrap();
        assert!(matches!(a.next, Next::End) && !a.join);
        let a = step_attr(parse_quote!(#[step(next = "b")])).unwrap();
        assert!(matches!(&a.next, Next::Steps(v) if v.len() == 1 && v[0].value() == "b"));
        let a = step_attr(parse_quote!(#[step(next = ["b", "c"])])).unwrap();
        assert!(matches!(&a.next, Next::Steps(v) if v.len() == 2 && v[1].value() == "c"));
        let a = step_attr(parse_quote!(#[step(foreach = "sq", items = "nums")])).unwrap();
        assert!(
            matches!(&a.next, Next::Foreach { target, items } if target.value() == "sq" && items.value() == "nums")
        );
        let a = step_attr(parse_quote!(#[step(join, next = "end")])).unwrap();
        assert!(a.join);
    }

    #[test]
    fn parses_settings() {
        let a = step_attr(
            parse_quote!(#[step(next = "b", retries = 2, timeout = 60, memory = 256,
            cpu = 1, catch = "err", compute = "batch", env = ["HOME", "USER"], network = "h:443",
            clock, random)]),
        )
        .unwrap();
        assert_eq!(
            (a.retries, a.timeout, a.memory, a.cpu),
            (Some(2), Some(60), Some(256), Some(1))
        );
        assert_eq!(a.catch.unwrap().value(), "err");
        assert_eq!(a.compute.unwrap().value(), "batch");
        assert_eq!(a.env.len(), 2);
        assert_eq!(a.network[0].value(), "h:443");
        assert!(a.clock && a.random);
    }

    #[test]
    fn rejects_bad_attributes() {
        let cases: Vec<(syn::Attribute, &str)> = vec![
            (parse_quote!(#[step(nxt = "b")]), "unknown `step` option"),
            (parse_quote!(#[step(foreach = "b")]), "needs `items"),
            (
                parse_quote!(#[step(next = "a", items = "x")]),
                "`items` goes with `foreach",
            ),
            (
                parse_quote!(#[step(next = "a", foreach = "b", items = "x")]),
                "either `next` or `foreach`",
            ),
            (parse_quote!(#[step(next = "a", next = "b")]), "given twice"),
            (parse_quote!(#[step(next = [])]), "at least one step"),
            (parse_quote!(#[step(retries = -1)]), "invalid digit"),
            (
                parse_quote!(#[step(retries = "2")]),
                "expected integer literal",
            ),
            (parse_quote!(#[step(next = b)]), "expected string literal"),
            (
                parse_quote!(#[step(next = "b", catch = "_x")]),
                "an artifact name",
            ),
        ];
        for (attr, want) in cases {
            let err = step_attr(attr).err().unwrap();
            assert!(err.contains(want), "{err:?} should contain {want:?}");
        }
    }

    /// The expansion, or every error message joined by newlines.
    fn expand_str(item: TokenStream) -> Result<String, String> {
        expand(quote!(), item).map(|t| t.to_string()).map_err(|e| {
            e.into_iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        })
    }

    #[test]
    fn expands_spec_and_dispatch() {
        let out = expand_str(quote! {
            impl F {
                /// First.
                #[step(foreach = "sq", items = "nums")]
                fn start(&mut self) -> wflow::Result<()> { Ok(()) }
                #[step(next = "sum", retries = 2)]
                fn sq(&mut self) -> wflow::Result<()> { Ok(()) }
                #[step(join, next = "end")]
                fn sum(&mut self, inputs: wflow::Inputs<Self>) -> wflow::Result<()> { Ok(()) }
                #[step]
                fn end(&mut self) -> wflow::Result<()> { Ok(()) }
                fn helper(&self) -> i64 { 1 }
            }
        })
        .unwrap();
        for want in [
            ":: wflow :: StepSpec :: new (\"start\") . doc (\"First.\") . foreach (\"sq\")",
            ". next (\"sum\") . retries (2u32)",
            ". next (\"end\") . join ()",
            "declare_foreach (& __wflow_this . nums) ?",
            "Self :: sum (& mut __wflow_this , :: wflow :: Inputs :: new ())",
            ":: wflow :: export_flow ! (F)",
            "fn helper (& self)",
        ] {
            assert!(out.contains(want), "missing {want:?} in {out}");
        }
        assert!(!out.contains("# [step"), "{out}");
    }

    #[test]
    fn rejects_bad_graphs_and_signatures() {
        let cases: Vec<(TokenStream, &str)> = vec![
            (
                quote! { impl F { #[step(next = "nope")] fn start(&mut self) {} #[step] fn end(&mut self) {} } },
                "no step named `nope`",
            ),
            (
                quote! { impl F { #[step(next = "end")] fn start(&mut self) {} } },
                "needs a `end` step",
            ),
            (
                quote! { impl F { #[step] fn start(&mut self) {} #[step] fn end(&mut self) {} } },
                "would end the flow",
            ),
            (
                quote! { impl F { #[step(next = "start")] fn start(&mut self) {} #[step(next = "start")] fn end(&mut self) {} } },
                "the `end` step ends the flow",
            ),
            (
                quote! { impl F { #[step(join, next = "end")] fn start(&mut self) {} #[step] fn end(&mut self) {} } },
                "a join step takes its inputs",
            ),
            (
                quote! { impl F { #[step(next = "end")] fn start(&mut self, i: wflow::Inputs<Self>) {} #[step] fn end(&mut self) {} } },
                "only a join step takes inputs",
            ),
            (
                quote! { impl F { #[step(next = "end")] fn start(&self) {} #[step] fn end(&mut self) {} } },
                "takes `&mut self`",
            ),
            (
                quote! { impl F { #[step(next = "end")] fn start() {} #[step] fn end(&mut self) {} } },
                "takes `&mut self`",
            ),
            (
                quote! { impl F { #[step(next = "end")] async fn start(&mut self) {} #[step] fn end(&mut self) {} } },
                "cannot be async",
            ),
            (quote! { impl Tr for F {} }, "not a trait impl"),
            (quote! { fn f() {} }, "goes on the `impl` block"),
        ];
        for (item, want) in cases {
            let err = expand_str(item).unwrap_err();
            assert!(err.contains(want), "{err:?} should contain {want:?}");
        }
        let err = expand(quote!(x), quote! { impl F {} })
            .unwrap_err()
            .to_string();
        assert!(err.contains("takes only `elsewhere"), "{err}");
    }

    #[test]
    fn elsewhere_names_steps_of_other_components() {
        // A polyglot flow's Rust part: `square` and `sum` are provided by other components.
        let out = expand(
            quote!(elsewhere = ["square", "sum"]),
            quote! { impl F {
                #[step(foreach = "square", items = "nums")] fn start(&mut self) {}
                #[step] fn end(&mut self) {}
            } },
        )
        .unwrap()
        .to_string();
        assert!(out.contains(". foreach (\"square\")"), "{out}");
        let err = expand(
            quote!(elsewhere = ["square"]),
            quote! { impl F { #[step(next = "nope")] fn start(&mut self) {} #[step] fn end(&mut self) {} } },
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("no step named `nope`"), "{err}");
        // `end` may come from elsewhere too.
        assert!(
            expand(
                quote!(elsewhere = ["end"]),
                quote! { impl F { #[step(next = "end")] fn start(&mut self) {} } },
            )
            .is_ok()
        );
    }

    #[test]
    fn field_idents() {
        assert_eq!(
            field_ident(&parse_quote!("nums")).unwrap().to_string(),
            "nums"
        );
        assert!(field_ident(&parse_quote!("not a field")).is_err());
    }
}

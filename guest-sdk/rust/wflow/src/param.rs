//! Flow parameters: typed handles read from the host's parsed values.

use std::borrow::Cow;
use std::marker::PhantomData;

use crate::{Error, ErrorKind, Field, ParamSpec, Result, Source};

/// The type of a parameter, as the host parses it (the WIT `param-type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ParamType {
    /// UTF-8 text.
    String,
    /// A signed 64-bit integer.
    Int,
    /// A 64-bit float.
    Float,
    /// `true` or `false`.
    Bool,
    /// Any JSON document, passed as its text.
    Json,
}

impl ParamType {
    /// The name the host uses for this type (`string`, `int`, `float`, `bool`, `json`).
    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Int => "int",
            ParamType::Float => "float",
            ParamType::Bool => "bool",
            ParamType::Json => "json",
        }
    }
}

/// A parameter's value, already parsed and checked by the host (the WIT `param-value`).
#[derive(Clone, Debug, PartialEq)]
pub enum ParamValue {
    /// Text.
    String(String),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// JSON text, already validated by the host.
    Json(String),
}

impl ParamValue {
    /// The type of this value.
    pub fn ty(&self) -> ParamType {
        match self {
            ParamValue::String(_) => ParamType::String,
            ParamValue::Int(_) => ParamType::Int,
            ParamValue::Float(_) => ParamType::Float,
            ParamValue::Bool(_) => ParamType::Bool,
            ParamValue::Json(_) => ParamType::Json,
        }
    }
}

impl From<&str> for ParamValue {
    fn from(v: &str) -> ParamValue {
        ParamValue::String(v.to_string())
    }
}
impl From<String> for ParamValue {
    fn from(v: String) -> ParamValue {
        ParamValue::String(v)
    }
}
impl From<i64> for ParamValue {
    fn from(v: i64) -> ParamValue {
        ParamValue::Int(v)
    }
}
impl From<f64> for ParamValue {
    fn from(v: f64) -> ParamValue {
        ParamValue::Float(v)
    }
}
impl From<bool> for ParamValue {
    fn from(v: bool) -> ParamValue {
        ParamValue::Bool(v)
    }
}

/// A Rust type a parameter can have: maps it to a [`ParamType`] and converts the host's value.
///
/// Implemented for `String`, `i64`, `f64`, `bool` and, with the `json` feature, `Json<T>`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a parameter type",
    note = "parameters are `String`, `i64`, `f64` or `bool` (and `wflow::Json<T>` with the `json` feature)"
)]
pub trait ParamKind: Sized {
    /// How the host parses the parameter.
    const TYPE: ParamType;

    /// The Rust type of a default written as `#[param(default = …)]`, checked at compile time:
    /// `&'static str` for text and JSON, else the type itself.
    type Literal;

    /// Converts the host's value; an error if it has another type (see [`ParamKind::mismatch`]) or
    /// does not convert.
    fn from_value(value: ParamValue) -> Result<Self>;

    /// The error for a value of another type than [`TYPE`](ParamKind::TYPE).
    fn mismatch(value: &ParamValue) -> Error {
        Error::new(
            ErrorKind::Invalid,
            format_args!(
                "has type {}, expected {}",
                value.ty().as_str(),
                Self::TYPE.as_str()
            ),
        )
    }
}

impl ParamKind for String {
    const TYPE: ParamType = ParamType::String;
    type Literal = &'static str;
    fn from_value(value: ParamValue) -> Result<Self> {
        match value {
            ParamValue::String(s) => Ok(s),
            other => Err(Self::mismatch(&other)),
        }
    }
}

impl ParamKind for i64 {
    const TYPE: ParamType = ParamType::Int;
    type Literal = i64;
    fn from_value(value: ParamValue) -> Result<Self> {
        match value {
            ParamValue::Int(i) => Ok(i),
            other => Err(Self::mismatch(&other)),
        }
    }
}

impl ParamKind for f64 {
    const TYPE: ParamType = ParamType::Float;
    type Literal = f64;
    fn from_value(value: ParamValue) -> Result<Self> {
        match value {
            ParamValue::Float(f) => Ok(f),
            ParamValue::Int(i) => Ok(i as f64),
            other => Err(Self::mismatch(&other)),
        }
    }
}

impl ParamKind for bool {
    const TYPE: ParamType = ParamType::Bool;
    type Literal = bool;
    fn from_value(value: ParamValue) -> Result<Self> {
        match value {
            ParamValue::Bool(b) => Ok(b),
            other => Err(Self::mismatch(&other)),
        }
    }
}

/// A JSON parameter decoded into `T` with serde (feature `json`). Use `Json<serde_json::Value>` for
/// any document.
#[cfg(feature = "json")]
#[derive(Clone, Debug, PartialEq)]
pub struct Json<T>(pub T);

#[cfg(feature = "json")]
impl<T: serde::de::DeserializeOwned> ParamKind for Json<T> {
    const TYPE: ParamType = ParamType::Json;
    type Literal = &'static str;
    fn from_value(value: ParamValue) -> Result<Self> {
        match value {
            ParamValue::Json(text) => Ok(Json(serde_json::from_str(&text)?)),
            other => Err(Self::mismatch(&other)),
        }
    }
}

/// A flow parameter of type `T`, set on the command line with `-p name=value`.
///
/// In a `#[wflow::flow]` struct, a `Param<T>` field declares the parameter; `#[param(default = …,
/// help = "…")]` sets its default (none means required) and help (the field's doc comment by
/// default).
pub struct Param<T> {
    name: Cow<'static, str>,
    _ty: PhantomData<fn() -> T>,
}

impl<T: ParamKind> Param<T> {
    /// A handle on the parameter `name`.
    pub fn new(name: impl Into<Cow<'static, str>>) -> Param<T> {
        Param {
            name: name.into(),
            _ty: PhantomData,
        }
    }

    /// The parameter's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The parameter's value for this run (the given one or the default).
    pub fn get(&self) -> Result<T> {
        let value = crate::host::parameter(&self.name).ok_or_else(|| {
            Error::new(
                ErrorKind::Invalid,
                format_args!("the flow has no parameter `{}`", self.name),
            )
        })?;
        T::from_value(value).map_err(|e| e.context(format_args!("parameter `{}`", self.name)))
    }
}

impl<T> Clone for Param<T> {
    fn clone(&self) -> Self {
        Param {
            name: self.name.clone(),
            _ty: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Param<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Param").field("name", &self.name).finish()
    }
}

impl<T: ParamKind> Field for Param<T> {
    fn bind(name: &'static str, _source: Source) -> Self {
        Param::new(name)
    }

    fn param_spec(
        name: &'static str,
        default: Option<&'static str>,
        help: &'static str,
    ) -> Option<ParamSpec> {
        let mut spec = ParamSpec::new(name, T::TYPE).help(help);
        spec.default = default.map(str::to_string);
        Some(spec)
    }
}

#[doc(hidden)]
/// Implemented by parameter fields only: lets `#[param]` check the field's type and its default.
#[diagnostic::on_unimplemented(
    message = "`#[param]` goes on a `Param<T>` field, not on `{Self}`",
    label = "not a parameter"
)]
pub trait ParamField {
    type Literal;
}

impl<T: ParamKind> ParamField for Param<T> {
    type Literal = T::Literal;
}

//! The flow spec: the host's own copy of the WIT `flow-spec` record, with serde so it can be
//! recorded with a run and printed by `wflow check --json`.

use serde::{Deserialize, Serialize};

/// The whole flow as its component declares it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowSpec {
    /// The flow's name, the first part of every pathspec.
    pub name: String,
    /// One paragraph of documentation.
    pub doc: String,
    /// The flow's parameters.
    pub parameters: Vec<ParamSpec>,
    /// The steps, in the order the guest declared them.
    pub steps: Vec<StepSpec>,
}

impl FlowSpec {
    /// The step named `name`.
    pub fn step(&self, name: &str) -> Option<&StepSpec> {
        self.steps.iter().find(|s| s.name == name)
    }
}

/// The type of a parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    /// UTF-8 text.
    String,
    /// A signed 64-bit integer.
    Int,
    /// A 64-bit float.
    Float,
    /// `true` or `false`.
    Bool,
    /// A JSON document.
    Json,
}

impl std::fmt::Display for ParamType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ParamType::String => "string",
            ParamType::Int => "int",
            ParamType::Float => "float",
            ParamType::Bool => "bool",
            ParamType::Json => "json",
        })
    }
}

/// A parsed parameter value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// Text.
    String(String),
    /// JSON text, already validated.
    Json(serde_json::Value),
}

/// One parameter of a flow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParamSpec {
    /// Its name.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub ty: ParamType,
    /// Its default as command-line text; `None` means required.
    pub default: Option<String>,
    /// One line of help.
    pub help: String,
}

/// What runs after a step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transition {
    /// The flow ends here.
    End,
    /// One step (linear) or several (a static branch).
    Next(Vec<String>),
    /// One task of the named step per declared item.
    Foreach(String),
    /// A conditional (contract 0.2): the step chooses one of `choices` at run time. A choice
    /// leading back to a step that can run before this one makes a loop, bounded by
    /// `max_iterations`.
    Switch {
        /// The possible successors.
        choices: Vec<String>,
        /// Most iterations of the loop this switch closes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_iterations: Option<u32>,
    },
}

impl Transition {
    /// The steps this transition leads to (for a switch, every possible choice).
    pub fn targets(&self) -> Vec<&str> {
        match self {
            Transition::End => vec![],
            Transition::Next(v) => v.iter().map(String::as_str).collect(),
            Transition::Foreach(s) => vec![s.as_str()],
            Transition::Switch { choices, .. } => choices.iter().map(String::as_str).collect(),
        }
    }

    /// The choices of a switch; empty for any other transition.
    pub fn choices(&self) -> &[String] {
        match self {
            Transition::Switch { choices, .. } => choices,
            _ => &[],
        }
    }
}

/// A host directory mounted into a step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirGrant {
    /// Path on the host.
    pub host_path: String,
    /// Path the guest sees.
    pub guest_path: String,
    /// Whether the guest may write.
    pub writable: bool,
}

/// What a step asks to reach beyond its inputs (denied unless granted).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Environment variables passed through by name.
    pub env: Vec<String>,
    /// Directories mounted.
    pub dirs: Vec<DirGrant>,
    /// Outbound `host:port` destinations.
    pub network: Vec<String>,
    /// Wall and monotonic clocks.
    pub clock: bool,
    /// Secure random numbers.
    pub random: bool,
    /// Secrets, by name (contract 0.2); the policy says where each comes from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
}

impl Capabilities {
    /// True when the step asks for nothing: it is then a pure function of its inputs.
    pub fn is_empty(&self) -> bool {
        self == &Capabilities::default()
    }
}

/// One step and its settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepSpec {
    /// Unique name within the flow.
    pub name: String,
    /// One line of documentation.
    pub doc: String,
    /// What runs next.
    pub transition: Transition,
    /// Whether the step joins a branch or a foreach.
    pub join: bool,
    /// Extra attempts after a failure.
    pub retries: u32,
    /// Wall-clock limit per attempt, in seconds.
    pub timeout_secs: Option<u32>,
    /// Memory limit per attempt, in MiB.
    pub memory_mb: Option<u32>,
    /// CPUs wanted.
    pub cpu: Option<u32>,
    /// Artifact that receives the error if the step still fails after its retries.
    pub catch: Option<String>,
    /// Compute backend (`local` when `None`).
    pub compute: Option<String>,
    /// Requested capabilities.
    pub capabilities: Capabilities,
}

impl StepSpec {
    /// A plain step with default settings (handy in tests).
    pub fn new(name: &str, transition: Transition) -> StepSpec {
        StepSpec {
            name: name.into(),
            doc: String::new(),
            transition,
            join: false,
            retries: 0,
            timeout_secs: None,
            memory_mb: None,
            cpu: None,
            catch: None,
            compute: None,
            capabilities: Capabilities::default(),
        }
    }
}

//! The flow spec, with builders, so a flow can be declared entirely by hand.

use crate::ParamType;

/// The whole flow as the guest declares it: name, doc, parameters and steps.
///
/// ```
/// use wflow::{FlowSpec, ParamSpec, ParamType, StepSpec};
///
/// let spec = FlowSpec::new("Hello")
///     .doc("Says hello.")
///     .param(ParamSpec::new("name", ParamType::String).default("world").help("Who to greet"))
///     .step(StepSpec::new("start").next("hello"))
///     .step(StepSpec::new("hello").next("end").retries(2).timeout_secs(60))
///     .step(StepSpec::new("end"));
/// assert_eq!(spec.steps.len(), 3);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct FlowSpec {
    /// The flow's name, the first part of every pathspec.
    pub name: String,
    /// One paragraph of documentation.
    pub doc: String,
    /// The parameters.
    pub parameters: Vec<ParamSpec>,
    /// The steps; `start` and `end` must exist.
    pub steps: Vec<StepSpec>,
}

impl FlowSpec {
    /// A flow with no parameters and no steps yet.
    pub fn new(name: impl Into<String>) -> FlowSpec {
        FlowSpec {
            name: name.into(),
            doc: String::new(),
            parameters: Vec::new(),
            steps: Vec::new(),
        }
    }

    /// Sets the documentation.
    pub fn doc(mut self, doc: impl Into<String>) -> FlowSpec {
        self.doc = doc.into();
        self
    }

    /// Adds a parameter.
    pub fn param(mut self, param: ParamSpec) -> FlowSpec {
        self.parameters.push(param);
        self
    }

    /// Adds parameters.
    pub fn params(mut self, params: impl IntoIterator<Item = ParamSpec>) -> FlowSpec {
        self.parameters.extend(params);
        self
    }

    /// Adds a step.
    pub fn step(mut self, step: StepSpec) -> FlowSpec {
        self.steps.push(step);
        self
    }

    /// The step named `name`.
    pub fn get_step(&self, name: &str) -> Option<&StepSpec> {
        self.steps.iter().find(|s| s.name == name)
    }
}

/// One parameter of a flow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamSpec {
    /// Name used on the command line (`-p name=value`).
    pub name: String,
    /// How the host parses the value.
    pub ty: ParamType,
    /// The default, as a user would type it on the command line; `None` means required.
    pub default: Option<String>,
    /// One line of help.
    pub help: String,
}

impl ParamSpec {
    /// A required parameter without help.
    pub fn new(name: impl Into<String>, ty: ParamType) -> ParamSpec {
        ParamSpec {
            name: name.into(),
            ty,
            default: None,
            help: String::new(),
        }
    }

    /// Sets the default, written as on the command line (`"10"`, `"true"`, `"world"`).
    pub fn default(mut self, default: impl Into<String>) -> ParamSpec {
        self.default = Some(default.into());
        self
    }

    /// Sets the help line.
    pub fn help(mut self, help: impl Into<String>) -> ParamSpec {
        self.help = help.into();
        self
    }
}

/// What runs after a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transition {
    /// The flow ends (only the step named `end`).
    End,
    /// One step (linear) or several (a static branch, later joined).
    Next(Vec<String>),
    /// One task of the named step per item the step declares; later joined.
    Foreach(String),
    /// One of `choices`, chosen by the step at run time with [`next`](crate::next) (contract
    /// 0.2). A choice leading back to an earlier step makes a loop, bounded by `max_iterations`.
    Switch {
        /// The possible successors.
        choices: Vec<String>,
        /// Most iterations of the loop (required for a loop).
        max_iterations: Option<u32>,
    },
}

/// A host directory a step asks to see at a guest path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirGrant {
    /// Path on the host.
    pub host_path: String,
    /// Path the guest sees.
    pub guest_path: String,
    /// Whether the step may write there.
    pub writable: bool,
}

/// What a step asks to reach beyond its inputs; everything is denied unless the host's policy
/// grants it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Environment variables passed through by name.
    pub env: Vec<String>,
    /// Directories to mount.
    pub dirs: Vec<DirGrant>,
    /// Outbound network destinations, as `host:port`.
    pub network: Vec<String>,
    /// Wall and monotonic clocks.
    pub clock: bool,
    /// Random numbers from the host's secure source.
    pub random: bool,
    /// Secrets read with [`secret`](crate::secret) (contract 0.2).
    pub secrets: Vec<String>,
}

/// One step and its settings. A new step ends the flow until [`next`](StepSpec::next),
/// [`branch`](StepSpec::branch) or [`foreach`](StepSpec::foreach) says otherwise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepSpec {
    /// Unique within the flow.
    pub name: String,
    /// One line of documentation.
    pub doc: String,
    /// What runs next.
    pub transition: Transition,
    /// True for a step that joins a branch or a foreach.
    pub join: bool,
    /// Extra attempts after a failed one.
    pub retries: u32,
    /// Wall-clock limit per attempt, in seconds.
    pub timeout_secs: Option<u32>,
    /// Memory limit per attempt, in MiB.
    pub memory_mb: Option<u32>,
    /// CPUs wanted (a hint for remote compute).
    pub cpu: Option<u32>,
    /// Artifact that receives the error if the step still fails after its retries.
    pub catch: Option<String>,
    /// Where the step's tasks run (`local` when `None`).
    pub compute: Option<String>,
    /// What the step asks to reach.
    pub capabilities: Capabilities,
}

impl StepSpec {
    /// A step that ends the flow, with default settings.
    pub fn new(name: impl Into<String>) -> StepSpec {
        StepSpec {
            name: name.into(),
            doc: String::new(),
            transition: Transition::End,
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

    /// Sets the documentation.
    pub fn doc(mut self, doc: impl Into<String>) -> StepSpec {
        self.doc = doc.into();
        self
    }

    /// Goes on to one step.
    pub fn next(mut self, step: impl Into<String>) -> StepSpec {
        self.transition = Transition::Next(vec![step.into()]);
        self
    }

    /// Goes on to several steps in parallel (a static branch).
    pub fn branch<S: Into<String>>(mut self, steps: impl IntoIterator<Item = S>) -> StepSpec {
        self.transition = Transition::Next(steps.into_iter().map(Into::into).collect());
        self
    }

    /// Fans out: one task of `step` per item this step declares (see
    /// [`foreach_items`](crate::foreach_items)).
    pub fn foreach(mut self, step: impl Into<String>) -> StepSpec {
        self.transition = Transition::Foreach(step.into());
        self
    }

    /// Chooses one of `steps` at run time (a switch): the step calls [`next`](crate::next) with
    /// one of them. A choice that leads back to an earlier step makes a loop, which needs
    /// [`max_iterations`](StepSpec::max_iterations).
    pub fn switch<S: Into<String>>(mut self, steps: impl IntoIterator<Item = S>) -> StepSpec {
        self.transition = Transition::Switch {
            choices: steps.into_iter().map(Into::into).collect(),
            max_iterations: None,
        };
        self
    }

    /// Bounds the loop this switch closes: past `n` iterations the run fails, naming the loop.
    /// Set it after [`switch`](StepSpec::switch); on any other transition it does nothing.
    pub fn max_iterations(mut self, n: u32) -> StepSpec {
        if let Transition::Switch { max_iterations, .. } = &mut self.transition {
            *max_iterations = Some(n);
        }
        self
    }

    /// Ends the flow (the default).
    pub fn end(mut self) -> StepSpec {
        self.transition = Transition::End;
        self
    }

    /// Marks the step as a join: it reads each of its inputs separately.
    pub fn join(mut self) -> StepSpec {
        self.join = true;
        self
    }

    /// Extra attempts after a failed one.
    pub fn retries(mut self, retries: u32) -> StepSpec {
        self.retries = retries;
        self
    }

    /// Wall-clock limit per attempt.
    pub fn timeout_secs(mut self, secs: u32) -> StepSpec {
        self.timeout_secs = Some(secs);
        self
    }

    /// Memory limit per attempt.
    pub fn memory_mb(mut self, mb: u32) -> StepSpec {
        self.memory_mb = Some(mb);
        self
    }

    /// CPUs wanted.
    pub fn cpu(mut self, cpu: u32) -> StepSpec {
        self.cpu = Some(cpu);
        self
    }

    /// On failure after the last attempt, stores the error as artifact `artifact` and goes on.
    pub fn catch(mut self, artifact: impl Into<String>) -> StepSpec {
        self.catch = Some(artifact.into());
        self
    }

    /// Runs the step's tasks on compute backend `compute`.
    pub fn compute(mut self, compute: impl Into<String>) -> StepSpec {
        self.compute = Some(compute.into());
        self
    }

    /// Asks for the host environment variable `name`.
    pub fn env(mut self, name: impl Into<String>) -> StepSpec {
        self.capabilities.env.push(name.into());
        self
    }

    /// Asks to see host directory `host_path` at `guest_path`.
    pub fn dir(
        mut self,
        host_path: impl Into<String>,
        guest_path: impl Into<String>,
        writable: bool,
    ) -> StepSpec {
        self.capabilities.dirs.push(DirGrant {
            host_path: host_path.into(),
            guest_path: guest_path.into(),
            writable,
        });
        self
    }

    /// Asks to reach `host:port`.
    pub fn network(mut self, destination: impl Into<String>) -> StepSpec {
        self.capabilities.network.push(destination.into());
        self
    }

    /// Asks for the clocks.
    pub fn clock(mut self) -> StepSpec {
        self.capabilities.clock = true;
        self
    }

    /// Asks for secure random numbers.
    pub fn random(mut self) -> StepSpec {
        self.capabilities.random = true;
        self
    }

    /// Asks for the secret `name` (read with [`secret`](crate::secret)); the host's policy says
    /// whether the step may have it and where it comes from.
    pub fn secret(mut self, name: impl Into<String>) -> StepSpec {
        self.capabilities.secrets.push(name.into());
        self
    }
}

pub(crate) mod to_wit {
    //! Conversion of the spec into the WIT types the `flow` export returns.
    use super::*;
    use crate::wit::wflow::flow::types as w;

    pub(crate) fn flow(s: FlowSpec) -> w::FlowSpec {
        w::FlowSpec {
            name: s.name,
            doc: s.doc,
            parameters: s.parameters.into_iter().map(param).collect(),
            steps: s.steps.into_iter().map(step).collect(),
        }
    }

    fn param(p: ParamSpec) -> w::ParamSpec {
        w::ParamSpec {
            name: p.name,
            type_: match p.ty {
                ParamType::String => w::ParamType::String,
                ParamType::Int => w::ParamType::Int,
                ParamType::Float => w::ParamType::Float,
                ParamType::Bool => w::ParamType::Bool,
                ParamType::Json => w::ParamType::Json,
            },
            default: p.default,
            help: p.help,
        }
    }

    fn step(s: StepSpec) -> w::StepSpec {
        let c = s.capabilities;
        w::StepSpec {
            name: s.name,
            doc: s.doc,
            transition: match s.transition {
                Transition::End => w::Transition::End,
                Transition::Next(v) => w::Transition::Next(v),
                Transition::Foreach(t) => w::Transition::Foreach(t),
                Transition::Switch {
                    choices,
                    max_iterations,
                } => w::Transition::Switch(w::SwitchSpec {
                    choices,
                    max_iterations,
                }),
            },
            join: s.join,
            retries: s.retries,
            timeout_secs: s.timeout_secs,
            memory_mb: s.memory_mb,
            cpu: s.cpu,
            catch: s.catch,
            compute: s.compute,
            capabilities: w::Capabilities {
                env: c.env,
                dirs: c
                    .dirs
                    .into_iter()
                    .map(|d| w::DirGrant {
                        host_path: d.host_path,
                        guest_path: d.guest_path,
                        writable: d.writable,
                    })
                    .collect(),
                network: c.network,
                clock: c.clock,
                random: c.random,
                secrets: c.secrets,
            },
        }
    }
}

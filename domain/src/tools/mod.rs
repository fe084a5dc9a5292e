//! The tools the model may call, and the executor that runs them.
//!
//! The call runner only knows the [`ToolExecutor`] seam. [`Toolbox`] is the
//! executor used in production: it finds the tool by name, parses the
//! arguments and turns every failure into an error result the model can
//! speak about. A failing tool never ends a call.

pub mod args;
pub mod recommend;
pub mod sequels;
pub mod vocabulary;

pub use crate::ports::ToolSpec;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::ports::{EntityKind, Tag};
use crate::types::{EntityId, TagId, ToolCallId};

/// An entity found by a search in this call; only these may be used as
/// recommendation inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownEntity {
    /// Its id.
    pub id: EntityId,
    /// Its name.
    pub name: String,
    /// Its type URN.
    pub kind: Option<EntityKind>,
    /// The year it came out, when the graph said.
    pub year: Option<u16>,
    /// The people the graph named for it (directors, authors, creators).
    pub people: Vec<String>,
    /// Its tags.
    pub tags: Vec<Tag>,
    /// What the graph says it is about, when it said.
    pub description: Option<String>,
}

impl KnownEntity {
    /// An entity known by id, name and kind only.
    pub fn new(id: EntityId, name: impl Into<String>, kind: Option<EntityKind>) -> Self {
        Self {
            id,
            name: name.into(),
            kind,
            year: None,
            people: Vec::new(),
            tags: Vec::new(),
            description: None,
        }
    }
}

/// A tag found by a tag search in this call ("Cozy"): only these may be
/// used as recommendation inputs besides the known entities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownTag {
    /// Its id.
    pub id: TagId,
    /// Its name.
    pub name: String,
    /// The kind of thing it was searched for, when the search said.
    pub kind: Option<EntityKind>,
}

/// What a call has found so far: the ids its tools accept. Tools add to
/// it (a search's results); nothing is ever taken away.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Known {
    /// Entities, oldest first.
    pub entities: Vec<KnownEntity>,
    /// Tags, oldest first.
    pub tags: Vec<KnownTag>,
}

impl Known {
    /// Entities only.
    pub fn of_entities(entities: Vec<KnownEntity>) -> Self {
        Self {
            entities,
            tags: Vec::new(),
        }
    }

    /// Tags only.
    pub fn of_tags(tags: Vec<KnownTag>) -> Self {
        Self {
            entities: Vec::new(),
            tags,
        }
    }

    /// Whether nothing is known.
    pub fn is_empty(&self) -> bool {
        self.entities.is_empty() && self.tags.is_empty()
    }

    /// The known entity with this id.
    pub fn entity(&self, id: &str) -> Option<&KnownEntity> {
        self.entities.iter().find(|entity| entity.id.as_str() == id)
    }

    /// The known tag with this id.
    pub fn tag(&self, id: &str) -> Option<&KnownTag> {
        self.tags.iter().find(|tag| tag.id.as_str() == id)
    }

    /// Adds what `learned` holds; one found again moves to the end (the
    /// newest), with what was learned of it this time.
    pub fn learn(&mut self, learned: &Known) {
        for entity in &learned.entities {
            self.entities.retain(|known| known.id != entity.id);
            self.entities.push(entity.clone());
        }
        for tag in &learned.tags {
            self.tags.retain(|known| known.id != tag.id);
            self.tags.push(tag.clone());
        }
    }
}

/// One thing a tool recommended to the caller in this call: what a text
/// of their picks lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pick {
    /// Its name.
    pub name: String,
    /// One short line about it (what it is, its year, where it is).
    pub line: String,
}

/// One tool invocation by the model.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolInvocation {
    /// The invocation id.
    pub call_id: ToolCallId,
    /// The tool's name.
    pub name: Arc<str>,
    /// The arguments, as JSON text (possibly invalid).
    pub arguments: Arc<str>,
    /// What was found in this call so far.
    pub known: Arc<Known>,
}

/// What a tool produced.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutcome {
    /// The result as JSON text, encoded once.
    pub output: Arc<str>,
    /// Whether this is an error result.
    pub is_error: bool,
    /// What this call should remember.
    pub learned: Known,
    /// What it recommended to the caller.
    pub picks: Vec<Pick>,
}

impl ToolOutcome {
    /// A successful result.
    pub fn ok(value: &Value, learned: Known) -> Self {
        Self {
            output: value.to_string().into(),
            is_error: false,
            learned,
            picks: Vec::new(),
        }
    }

    /// With what it recommended to the caller.
    #[must_use]
    pub fn with_picks(mut self, picks: Vec<Pick>) -> Self {
        self.picks = picks;
        self
    }

    /// An error result: `{"error": message}` plus any extra fields.
    pub fn error(message: impl Into<String>, extra: Option<Value>) -> Self {
        let mut value = json!({ "error": message.into() });
        if let (Some(Value::Object(extra)), Value::Object(map)) = (extra, &mut value) {
            map.extend(extra);
        }
        Self {
            output: value.to_string().into(),
            is_error: true,
            learned: Known::default(),
            picks: Vec::new(),
        }
    }
}

/// Runs tool invocations.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ToolExecutor: Send + Sync {
    /// The tools offered to the model.
    fn specs(&self) -> Vec<ToolSpec>;

    /// Runs one invocation. Never fails: failures are error results.
    async fn execute(&self, invocation: ToolInvocation) -> ToolOutcome;
}

/// What a tool run needs besides its arguments.
#[derive(Debug, Clone)]
pub struct ToolContext {
    /// What was found in this call so far.
    pub known: Arc<Known>,
}

/// A tool failure, phrased for the model.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolFailure {
    /// What went wrong.
    pub message: String,
    /// Extra fields (a suggestion, the valid values…).
    pub details: Option<Value>,
}

impl ToolFailure {
    /// A failure with a message only.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            details: None,
        }
    }

    /// Adds extra fields.
    #[must_use]
    pub fn with(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }
}

/// A tool's successful output.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSuccess {
    /// The result object.
    pub value: Value,
    /// What to remember for this call.
    pub learned: Known,
    /// What it recommended to the caller.
    pub picks: Vec<Pick>,
}

/// One tool.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Tool: Send + Sync {
    /// Its description for the model.
    fn spec(&self) -> ToolSpec;

    /// Runs it on parsed arguments (always a JSON object).
    ///
    /// # Errors
    /// A [`ToolFailure`] the model can speak about.
    async fn run(
        &self,
        arguments: serde_json::Map<String, Value>,
        context: &ToolContext,
    ) -> Result<ToolSuccess, ToolFailure>;
}

/// The production [`ToolExecutor`]: a set of named tools.
#[derive(Clone, Default)]
pub struct Toolbox {
    tools: HashMap<String, Arc<dyn Tool>>,
    order: Vec<String>,
}

impl std::fmt::Debug for Toolbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Toolbox")
            .field("tools", &self.order)
            .finish()
    }
}

impl Toolbox {
    /// An empty toolbox.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a tool; a later tool with the same name replaces an earlier one.
    #[must_use]
    pub fn with(mut self, tool: Arc<dyn Tool>) -> Self {
        let name = tool.spec().name;
        if !self.tools.contains_key(&name) {
            self.order.push(name.clone());
        }
        self.tools.insert(name, tool);
        self
    }
}

#[async_trait]
impl ToolExecutor for Toolbox {
    fn specs(&self) -> Vec<ToolSpec> {
        self.order
            .iter()
            .map(|name| self.tools[name].spec())
            .collect()
    }

    async fn execute(&self, invocation: ToolInvocation) -> ToolOutcome {
        let Some(tool) = self.tools.get(&*invocation.name) else {
            return ToolOutcome::error(
                format!("Unknown tool \"{}\"", invocation.name),
                Some(json!({ "available_tools": self.order })),
            );
        };
        let arguments = match serde_json::from_str::<Value>(&invocation.arguments) {
            Ok(Value::Object(map)) => map,
            Ok(_) => {
                return ToolOutcome::error("Arguments must be a JSON object", None);
            }
            Err(err) => {
                return ToolOutcome::error(format!("Arguments are not valid JSON: {err}"), None);
            }
        };
        let context = ToolContext {
            known: invocation.known.clone(),
        };
        match tool.run(arguments, &context).await {
            Ok(success) => {
                ToolOutcome::ok(&success.value, success.learned).with_picks(success.picks)
            }
            Err(failure) => ToolOutcome::error(failure.message, failure.details),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invocation(name: &str, arguments: &str) -> ToolInvocation {
        ToolInvocation {
            call_id: ToolCallId::parse("call_1").unwrap(),
            name: name.into(),
            arguments: arguments.into(),
            known: Arc::default(),
        }
    }

    fn echo_tool() -> MockTool {
        let mut tool = MockTool::new();
        tool.expect_spec().returning(|| ToolSpec {
            name: "echo".into(),
            description: "Echoes".into(),
            parameters: json!({"type": "object"}),
        });
        tool
    }

    #[tokio::test]
    async fn unknown_tool_gives_an_error_result_listing_the_tools() {
        let toolbox = Toolbox::new().with(Arc::new(echo_tool()));
        let outcome = toolbox.execute(invocation("nope", "{}")).await;
        assert!(outcome.is_error);
        let value: Value = serde_json::from_str(&outcome.output).unwrap();
        assert_eq!(value["error"], "Unknown tool \"nope\"");
        assert_eq!(value["available_tools"], json!(["echo"]));
    }

    #[tokio::test]
    async fn bad_json_and_non_objects_give_error_results() {
        let toolbox = Toolbox::new().with(Arc::new(echo_tool()));
        let outcome = toolbox.execute(invocation("echo", "{not json")).await;
        assert!(outcome.is_error);
        assert!(outcome.output.contains("Arguments are not valid JSON"));
        let outcome = toolbox.execute(invocation("echo", "[1]")).await;
        assert!(outcome.is_error);
        assert!(outcome.output.contains("must be a JSON object"));
    }

    #[tokio::test]
    async fn tool_success_and_failure_are_encoded_once() {
        let mut tool = echo_tool();
        tool.expect_run().times(2).returning(|args, _| {
            if args.contains_key("fail") {
                Err(ToolFailure::new("it failed").with(json!({"suggestion": "try again"})))
            } else {
                Ok(ToolSuccess {
                    value: json!({"echo": args}),
                    learned: Known::default(),
                    picks: Vec::new(),
                })
            }
        });
        let toolbox = Toolbox::new().with(Arc::new(tool));
        let outcome = toolbox.execute(invocation("echo", r#"{"a":1}"#)).await;
        assert!(!outcome.is_error);
        assert_eq!(&*outcome.output, r#"{"echo":{"a":1}}"#);
        let outcome = toolbox
            .execute(invocation("echo", r#"{"fail":true}"#))
            .await;
        assert!(outcome.is_error);
        let value: Value = serde_json::from_str(&outcome.output).unwrap();
        assert_eq!(
            value,
            json!({"error": "it failed", "suggestion": "try again"})
        );
        assert_eq!(toolbox.specs().len(), 1);
    }
}

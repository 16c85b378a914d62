//! One resource being read: its properties resolved one at a time, its
//! `Ref` and attributes as the stack gives them, and errors that name it.

use serde_json::{Map, Value};

use super::super::Builder;
use crate::StackError;
use crate::intrinsics::{Resolver, ResourceValues, scalar};

pub(super) struct Reading<'r> {
    pub logical_id: &'r str,
    pub resource: &'r Value,
    pub properties: &'r Map<String, Value>,
    pub resolver: &'r Resolver<'r>,
    values: &'r ResourceValues,
}

impl<'r> Reading<'r> {
    pub fn new(
        logical_id: &'r str,
        resource: &'r Value,
        resolver: &'r Resolver<'r>,
        values: &'r ResourceValues,
    ) -> Self {
        Self {
            logical_id,
            resource,
            properties: Builder::properties(resource),
            resolver,
            values,
        }
    }

    /// An error about this resource.
    pub fn error(&self, error: StackError) -> StackError {
        StackError::Resource {
            resource: self.logical_id.to_owned(),
            reason: error.to_string(),
        }
    }

    pub fn invalid(&self, reason: &str) -> StackError {
        self.error(StackError::Invalid(reason.to_owned()))
    }

    /// The property `name`, its intrinsics resolved.
    pub fn resolve(&self, name: &str) -> Result<Option<Value>, StackError> {
        Builder::resolved(self.resolver, self.properties, name).map_err(|e| self.error(e))
    }

    /// All the properties, resolved.
    pub fn resolve_all(&self) -> Result<Map<String, Value>, StackError> {
        Ok(self
            .resolver
            .resolve(&Value::Object(self.properties.clone()))
            .map_err(|e| self.error(e))?
            .and_then(|v| v.as_object().cloned())
            .unwrap_or_default())
    }

    /// The property `name` if it is a string.
    pub fn text(&self, name: &str) -> Result<Option<String>, StackError> {
        Ok(self
            .resolve(name)?
            .and_then(|v| v.as_str().map(str::to_owned)))
    }

    /// The property `name`, a list of strings (other items are left out).
    pub fn strings(&self, name: &str) -> Result<Vec<String>, StackError> {
        Ok(self
            .array(name)?
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect())
    }

    pub fn array(&self, name: &str) -> Result<Vec<Value>, StackError> {
        Ok(self
            .resolve(name)?
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default())
    }

    /// Whether the property `name` is `true` (a boolean or its string).
    pub fn flag(&self, name: &str) -> Result<bool, StackError> {
        Ok(self.resolve(name)?.is_some_and(|v| truthy(&v)))
    }

    /// The property `name` as a number of type `N`, if it is one.
    pub fn number<N: std::str::FromStr>(&self, name: &str) -> Result<Option<N>, StackError> {
        Ok(self
            .resolve(name)?
            .and_then(|v| scalar(&v, name).ok())
            .and_then(|n| n.parse().ok()))
    }

    /// The resource's `Ref`.
    pub fn reference(&self) -> String {
        self.values
            .reference
            .as_ref()
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    }

    /// The resource's `Fn::GetAtt` attribute `name`.
    pub fn attribute(&self, name: &str) -> String {
        self.values.attributes[name]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// Whether a template value is `true`: a boolean, or its string.
pub(in crate::model) fn truthy(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::String(s) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

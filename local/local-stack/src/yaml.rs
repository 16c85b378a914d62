//! A CloudFormation YAML template as the JSON CloudFormation itself works
//! on: short-form tags (`!Ref X`, `!GetAtt A.B`, `!Sub ...`) become their
//! long forms (`{"Ref": "X"}`, `{"Fn::GetAtt": ["A", "B"]}`, ...).

use serde_json::{Map, Number, Value};
use yaml_serde::value::TaggedValue;

use crate::StackError;

/// Parses a template written in YAML (or JSON, which is YAML too).
pub fn parse_template(text: &str) -> Result<Value, StackError> {
    let yaml: yaml_serde::Value =
        yaml_serde::from_str(text).map_err(|error| StackError::Yaml(error.to_string()))?;
    to_json(yaml)
}

fn to_json(value: yaml_serde::Value) -> Result<Value, StackError> {
    use yaml_serde::Value as Y;
    Ok(match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => number(&n)?,
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => {
            Value::Array(items.into_iter().map(to_json).collect::<Result<_, _>>()?)
        }
        Y::Mapping(mapping) => {
            let mut object = Map::new();
            for (key, value) in mapping {
                let key = match key {
                    Y::String(key) => key,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    other => {
                        return Err(StackError::Yaml(format!(
                            "mapping keys must be scalars, not {other:?}"
                        )));
                    }
                };
                object.insert(key, to_json(value)?);
            }
            Value::Object(object)
        }
        Y::Tagged(tagged) => long_form(*tagged)?,
    })
}

fn number(n: &yaml_serde::Number) -> Result<Value, StackError> {
    if let Some(i) = n.as_i64() {
        Ok(Value::from(i))
    } else if let Some(u) = n.as_u64() {
        Ok(Value::from(u))
    } else {
        n.as_f64()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| StackError::Yaml(format!("{n} is not a finite number")))
    }
}

/// `!Tag value` as CloudFormation's long form.
fn long_form(tagged: TaggedValue) -> Result<Value, StackError> {
    let tag = tagged.tag.to_string();
    let name = tag.trim_start_matches('!');
    let value = to_json(tagged.value)?;
    let (key, value) = match name {
        "Ref" => ("Ref".to_owned(), value),
        "Condition" => ("Condition".to_owned(), value),
        // `!GetAtt Resource.Attribute.Path` splits at the first dot only.
        "GetAtt" => match value {
            Value::String(text) => {
                let (resource, attribute) = text.split_once('.').ok_or_else(|| {
                    StackError::Yaml(format!("!GetAtt {text} needs Resource.Attribute"))
                })?;
                (
                    "Fn::GetAtt".to_owned(),
                    Value::Array(vec![resource.into(), attribute.into()]),
                )
            }
            other => ("Fn::GetAtt".to_owned(), other),
        },
        "Base64" | "Cidr" | "FindInMap" | "GetAZs" | "ImportValue" | "Join" | "Select"
        | "Split" | "Sub" | "Transform" | "And" | "Equals" | "If" | "Not" | "Or" | "Contains"
        | "EachMemberEquals" | "EachMemberIn" | "RefAll" | "ValueOf" | "ValueOfAll" | "Length"
        | "ToJsonString" => (format!("Fn::{name}"), value),
        other => return Err(StackError::Yaml(format!("unknown tag !{other}"))),
    };
    let mut object = Map::new();
    object.insert(key, value);
    Ok(Value::Object(object))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn short_forms_become_long_forms() {
        let template = parse_template(
            r#"
A: !Ref Bucket
B: !GetAtt Db.Endpoint.Address
C: !Sub
  - "${X}-${AWS::Region}"
  - X: !Join ["", !Split ["-", !Ref AWS::Region]]
D: !If [IsProd, 14, 7]
E: { Condition: IsProd }
F: !Not [!Condition HasAlb]
"#,
        )
        .unwrap();
        assert_eq!(template["A"], json!({"Ref": "Bucket"}));
        assert_eq!(
            template["B"],
            json!({"Fn::GetAtt": ["Db", "Endpoint.Address"]})
        );
        assert_eq!(
            template["C"],
            json!({"Fn::Sub": ["${X}-${AWS::Region}", {"X": {"Fn::Join": ["", {"Fn::Split": ["-", {"Ref": "AWS::Region"}]}]}}]})
        );
        assert_eq!(template["D"], json!({"Fn::If": ["IsProd", 14, 7]}));
        assert_eq!(template["E"], json!({"Condition": "IsProd"}));
        assert_eq!(template["F"], json!({"Fn::Not": [{"Condition": "HasAlb"}]}));
    }

    #[test]
    fn unknown_tags_are_refused() {
        let error = parse_template("A: !Reff X").unwrap_err();
        assert!(error.to_string().contains("!Reff"), "{error}");
    }
}

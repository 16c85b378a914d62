//! The optional application load balancer: the balancer, its listeners and
//! their rules (which name each other and are attached once all are read),
//! its Lambda target groups, and the permissions that let ELB invoke them.

use serde_json::Value;

use super::reading::{Reading, truthy};
use crate::StackError;
use crate::elb::{self, LambdaPermission, Listener, ListenerRule, LoadBalancer, TargetGroup};
use crate::model::LocalStack;

pub(super) fn load_balancer(r: &Reading<'_>) -> Result<LoadBalancer, StackError> {
    let kind = r.text("Type")?.unwrap_or_else(|| "application".into());
    if kind != "application" {
        return Err(StackError::Unsupported(format!(
            "{}: a load balancer of type {kind}",
            r.logical_id
        )));
    }
    Ok(LoadBalancer {
        logical_id: r.logical_id.to_owned(),
        arn: r.reference(),
        dns_name: r.attribute("DNSName"),
        listeners: Vec::new(),
    })
}

pub(super) fn listener(r: &Reading<'_>) -> Result<Listener, StackError> {
    let port = r
        .number::<u16>("Port")?
        .ok_or_else(|| r.invalid("Port must be 1 to 65535"))?;
    Ok(Listener {
        logical_id: r.logical_id.to_owned(),
        arn: r.reference(),
        load_balancer_arn: r.text("LoadBalancerArn")?.unwrap_or_default(),
        port,
        protocol: r.text("Protocol")?.unwrap_or_else(|| "HTTP".into()),
        default_actions: elb::actions(r.resolve("DefaultActions")?.as_ref(), r.logical_id)
            .map_err(|e| r.error(e))?,
        rules: Vec::new(),
    })
}

pub(super) fn rule(r: &Reading<'_>) -> Result<ListenerRule, StackError> {
    // ELB: priorities are 1 to 50000.
    let priority = r
        .number::<u32>("Priority")?
        .filter(|p| (1..=50_000).contains(p))
        .ok_or_else(|| r.invalid("Priority must be 1 to 50000"))?;
    Ok(ListenerRule {
        logical_id: r.logical_id.to_owned(),
        listener_arn: r.text("ListenerArn")?.unwrap_or_default(),
        priority,
        conditions: elb::conditions(r.resolve("Conditions")?.as_ref(), r.logical_id)
            .map_err(|e| r.error(e))?,
        actions: elb::actions(r.resolve("Actions")?.as_ref(), r.logical_id)
            .map_err(|e| r.error(e))?,
    })
}

pub(super) fn target_group(r: &Reading<'_>) -> Result<TargetGroup, StackError> {
    let kind = r.text("TargetType")?.unwrap_or_else(|| "instance".into());
    if kind != "lambda" {
        return Err(StackError::Unsupported(format!(
            "{}: targets of type {kind} (the local ALB forwards to Lambda functions)",
            r.logical_id
        )));
    }
    let attributes = r.array("TargetGroupAttributes")?;
    Ok(TargetGroup {
        logical_id: r.logical_id.to_owned(),
        arn: r.reference(),
        functions: r
            .array("Targets")?
            .iter()
            .filter_map(|t| t.get("Id").and_then(Value::as_str).map(str::to_owned))
            .collect(),
        multi_value_headers: attributes.iter().any(|a| {
            a.get("Key").and_then(Value::as_str) == Some("lambda.multi_value_headers.enabled")
                && a.get("Value").is_some_and(truthy)
        }),
    })
}

pub(super) fn permission(r: &Reading<'_>) -> Result<LambdaPermission, StackError> {
    Ok(LambdaPermission {
        logical_id: r.logical_id.to_owned(),
        function: r.text("FunctionName")?.unwrap_or_default(),
        action: r.text("Action")?.unwrap_or_default(),
        principal: r.text("Principal")?.unwrap_or_default(),
        source_account: r.text("SourceAccount")?,
        source_arn: r.text("SourceArn")?,
    })
}

/// Rules go to their listener (by priority, which ELB keeps unique per
/// listener), listeners to their load balancer.
pub(super) fn attach_listeners(
    stack: &mut LocalStack,
    mut listeners: Vec<Listener>,
    mut rules: Vec<ListenerRule>,
) -> Result<(), StackError> {
    rules.sort_by_key(|r| r.priority);
    for rule in rules {
        let listener = listeners
            .iter_mut()
            .find(|l| l.arn == rule.listener_arn)
            .ok_or_else(|| StackError::Resource {
                resource: rule.logical_id.clone(),
                reason: format!("no listener {} in the stack", rule.listener_arn),
            })?;
        if let Some(other) = listener.rules.iter().find(|r| r.priority == rule.priority) {
            return Err(StackError::Resource {
                resource: rule.logical_id.clone(),
                reason: format!(
                    "priority {} is already {}'s (ELB: PriorityInUse)",
                    rule.priority, other.logical_id
                ),
            });
        }
        listener.rules.push(rule);
    }
    for listener in listeners {
        let balancer = stack
            .load_balancers
            .iter_mut()
            .find(|b| b.arn == listener.load_balancer_arn)
            .ok_or_else(|| StackError::Resource {
                resource: listener.logical_id.clone(),
                reason: format!(
                    "no load balancer {} in the stack",
                    listener.load_balancer_arn
                ),
            })?;
        balancer.listeners.push(listener);
    }
    Ok(())
}

//! The VPC as the functions' requests see it: gateway endpoints and the
//! route tables of the subnets that use them, interface endpoints.

use serde_json::json;

use super::reading::Reading;
use crate::StackError;
use crate::model::{GatewayEndpoint, InterfaceEndpoint, LocalStack};

pub(super) fn vpc_endpoint(stack: &mut LocalStack, r: &Reading<'_>) -> Result<(), StackError> {
    let service_name = r.text("ServiceName")?.unwrap_or_default();
    // com.amazonaws.<region>.<service>
    let service = service_name
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .to_owned();
    let kind = r
        .text("VpcEndpointType")?
        .unwrap_or_else(|| "Gateway".to_owned());
    if kind == "Gateway" {
        stack.gateway_endpoints.push(GatewayEndpoint {
            logical_id: r.logical_id.to_owned(),
            id: r.reference(),
            service,
            // No policy: the endpoint allows everything.
            policy: r.resolve("PolicyDocument")?.unwrap_or_else(|| {
                json!({"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]})
            }),
            route_tables: r.strings("RouteTableIds")?,
        });
    } else {
        stack.interface_endpoints.push(InterfaceEndpoint {
            logical_id: r.logical_id.to_owned(),
            id: r.reference(),
            service,
            subnets: r.strings("SubnetIds")?,
            private_dns: r.flag("PrivateDnsEnabled")?,
        });
    }
    Ok(())
}

pub(super) fn route_table_association(
    stack: &mut LocalStack,
    r: &Reading<'_>,
) -> Result<(), StackError> {
    if let (Some(subnet), Some(table)) = (r.text("SubnetId")?, r.text("RouteTableId")?) {
        stack.subnet_route_tables.insert(subnet, table);
    }
    Ok(())
}

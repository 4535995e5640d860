//! What the local runner reads from `template.yaml`: the tables it creates,
//! the schedules it fires and the event routes it follows. Reading them from
//! the deployed declaration keeps local runs and AWS from drifting apart.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use serde::Deserialize;
use serde_yaml_ng::Value;

/// The deployed template, compiled in so the runner works from any directory.
pub const TEMPLATE_YAML: &str = include_str!("../../../template.yaml");

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("template.yaml does not parse: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
    #[error("template.yaml: {0}")]
    Shape(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeDecl {
    pub attribute_name: String,
    pub attribute_type: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyDecl {
    pub attribute_name: String,
    pub key_type: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProjectionDecl {
    pub projection_type: String,
    #[serde(default)]
    pub non_key_attributes: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IndexDecl {
    pub index_name: String,
    pub key_schema: Vec<KeyDecl>,
    pub projection: ProjectionDecl,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TtlDecl {
    pub attribute_name: String,
    pub enabled: bool,
}

/// An `AWS::DynamoDB::Table`'s properties, as far as creating it goes.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableDecl {
    #[serde(skip)]
    pub logical_id: String,
    pub billing_mode: String,
    pub attribute_definitions: Vec<AttributeDecl>,
    pub key_schema: Vec<KeyDecl>,
    #[serde(default)]
    pub global_secondary_indexes: Vec<IndexDecl>,
    pub time_to_live_specification: Option<TtlDecl>,
}

/// A schedule that invokes a function (`ScheduleV2` events).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleDecl {
    pub function: String,
    pub every: Duration,
}

/// An EventBridge rule that invokes a function (`EventBridgeRule` events).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteDecl {
    pub function: String,
    pub detail_types: Vec<String>,
    /// `detail.channel` values matched; empty matches any.
    pub channels: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Template {
    pub tables: Vec<TableDecl>,
    pub schedules: Vec<ScheduleDecl>,
    pub routes: Vec<RouteDecl>,
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_sequence)
        .map(|items| items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// `rate(1 minute)`, `rate(5 minutes)`, `rate(1 hour)`.
pub fn parse_rate(expression: &str) -> Option<Duration> {
    let inner = expression.strip_prefix("rate(")?.strip_suffix(')')?;
    let (count, unit) = inner.split_once(' ')?;
    let count: u64 = count.parse().ok()?;
    let seconds = match unit.trim_end_matches('s') {
        "minute" => 60,
        "hour" => 3600,
        "day" => 86_400,
        _ => return None,
    };
    Some(Duration::from_secs(count * seconds))
}

impl Template {
    pub fn deployed() -> Result<Self, TemplateError> {
        Self::parse(TEMPLATE_YAML)
    }

    pub fn parse(yaml: &str) -> Result<Self, TemplateError> {
        let root: Value = serde_yaml_ng::from_str(yaml)?;
        let resources: BTreeMap<String, Value> = root
            .get("Resources")
            .cloned()
            .map(serde_yaml_ng::from_value)
            .transpose()?
            .ok_or_else(|| TemplateError::Shape("no Resources".into()))?;
        let mut template = Template { tables: Vec::new(), schedules: Vec::new(), routes: Vec::new() };
        for (logical_id, resource) in resources {
            match resource.get("Type").and_then(Value::as_str) {
                Some("AWS::DynamoDB::Table") => {
                    let properties = resource
                        .get("Properties")
                        .cloned()
                        .ok_or_else(|| TemplateError::Shape(format!("{logical_id} has no Properties")))?;
                    let mut table: TableDecl = serde_yaml_ng::from_value(properties)?;
                    table.logical_id = logical_id;
                    template.tables.push(table);
                }
                Some("AWS::Serverless::Function") => template.read_function(&logical_id, &resource)?,
                _ => {}
            }
        }
        Ok(template)
    }

    fn read_function(&mut self, logical_id: &str, resource: &Value) -> Result<(), TemplateError> {
        let function = resource
            .get("Metadata")
            .and_then(|m| m.get("BuildProperties"))
            .and_then(|b| b.get("Binary"))
            .and_then(Value::as_str)
            .ok_or_else(|| TemplateError::Shape(format!("{logical_id} names no Binary")))?
            .to_owned();
        let events = resource
            .get("Properties")
            .and_then(|p| p.get("Events"))
            .and_then(Value::as_mapping)
            .cloned()
            .unwrap_or_default();
        for (_, event) in events {
            let properties = event.get("Properties");
            match event.get("Type").and_then(Value::as_str) {
                Some("ScheduleV2") => {
                    let expression = properties
                        .and_then(|p| p.get("ScheduleExpression"))
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let every = parse_rate(expression).ok_or_else(|| {
                        TemplateError::Shape(format!("{logical_id}: unsupported schedule {expression:?}"))
                    })?;
                    self.schedules.push(ScheduleDecl { function: function.clone(), every });
                }
                Some("EventBridgeRule") => {
                    let pattern = properties.and_then(|p| p.get("Pattern"));
                    self.routes.push(RouteDecl {
                        function: function.clone(),
                        detail_types: strings(pattern.and_then(|p| p.get("detail-type"))),
                        channels: strings(pattern.and_then(|p| p.get("detail")).and_then(|d| d.get("channel"))),
                    });
                }
                _ => {}
            }
        }
        Ok(())
    }

    pub fn table(&self, logical_id: &str) -> Result<&TableDecl, TemplateError> {
        self.tables
            .iter()
            .find(|t| t.logical_id == logical_id)
            .ok_or_else(|| TemplateError::Shape(format!("no table {logical_id}")))
    }
}

fn key_schema(keys: &[KeyDecl]) -> Result<Vec<KeySchemaElement>, String> {
    keys.iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(&k.attribute_name)
                .key_type(KeyType::from(k.key_type.as_str()))
                .build()
                .map_err(|e| e.to_string())
        })
        .collect()
}

impl TableDecl {
    /// The definitions of the attributes `keys` use (all, for `None`).
    fn attribute_definitions(&self, keys: Option<&[KeyDecl]>) -> Result<Vec<AttributeDefinition>, String> {
        self.attribute_definitions
            .iter()
            .filter(|a| keys.is_none_or(|keys| keys.iter().any(|k| k.attribute_name == a.attribute_name)))
            .map(|attribute| {
                AttributeDefinition::builder()
                    .attribute_name(&attribute.attribute_name)
                    .attribute_type(ScalarAttributeType::from(attribute.attribute_type.as_str()))
                    .build()
                    .map_err(|e| e.to_string())
            })
            .collect()
    }

    fn index(index: &IndexDecl) -> Result<GlobalSecondaryIndex, String> {
        let projection = Projection::builder()
            .projection_type(ProjectionType::from(index.projection.projection_type.as_str()))
            .set_non_key_attributes(
                (!index.projection.non_key_attributes.is_empty()).then(|| index.projection.non_key_attributes.clone()),
            )
            .build();
        GlobalSecondaryIndex::builder()
            .index_name(&index.index_name)
            .set_key_schema(Some(key_schema(&index.key_schema)?))
            .projection(projection)
            .build()
            .map_err(|e| e.to_string())
    }

    /// Adds the indexes declared since an existing local table was created,
    /// so that a data file from an older version keeps working.
    async fn add_missing_indexes(
        &self,
        client: &aws_sdk_dynamodb::Client,
        name: &str,
        existing: Vec<String>,
    ) -> Result<(), String> {
        for index in self.global_secondary_indexes.iter().filter(|i| !existing.contains(&i.index_name)) {
            let gsi = Self::index(index)?;
            let create = aws_sdk_dynamodb::types::CreateGlobalSecondaryIndexAction::builder()
                .index_name(gsi.index_name())
                .set_key_schema(Some(gsi.key_schema().to_vec()))
                .set_projection(gsi.projection().cloned())
                .build()
                .map_err(|e| e.to_string())?;
            client
                .update_table()
                .table_name(name)
                .set_attribute_definitions(Some(self.attribute_definitions(Some(&index.key_schema))?))
                .global_secondary_index_updates(
                    aws_sdk_dynamodb::types::GlobalSecondaryIndexUpdate::builder().create(create).build(),
                )
                .send()
                .await
                .map_err(|e| aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())?;
        }
        Ok(())
    }

    /// Creates this table under `name`, with its TTL; an existing table gets
    /// the indexes it lacks.
    pub async fn create(&self, client: &aws_sdk_dynamodb::Client, name: &str) -> Result<(), String> {
        if let Ok(described) = client.describe_table().table_name(name).send().await {
            let existing = described
                .table
                .and_then(|t| t.global_secondary_indexes)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|i| i.index_name)
                .collect();
            return self.add_missing_indexes(client, name, existing).await;
        }
        let mut request = client
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::from(self.billing_mode.as_str()))
            .set_key_schema(Some(key_schema(&self.key_schema)?));
        request = request.set_attribute_definitions(Some(self.attribute_definitions(None)?));
        for index in &self.global_secondary_indexes {
            request = request.global_secondary_indexes(Self::index(index)?);
        }
        request.send().await.map_err(|e| aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())?;
        if let Some(ttl) = &self.time_to_live_specification {
            client
                .update_time_to_live()
                .table_name(name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .attribute_name(&ttl.attribute_name)
                        .enabled(ttl.enabled)
                        .build()
                        .map_err(|e| e.to_string())?,
                )
                .send()
                .await
                .map_err(|e| aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deployed_template_declares_the_table_schedule_and_routes() {
        let template = Template::deployed().unwrap();
        let table = template.table("TidingsTable").unwrap();
        assert_eq!(table.billing_mode, "PAY_PER_REQUEST");
        let indexes: Vec<_> = table.global_secondary_indexes.iter().map(|i| i.index_name.as_str()).collect();
        assert_eq!(indexes, ["due", "by_subject", "by_recipient", "by_status", "lookup", "thread"]);
        assert_eq!(table.time_to_live_specification.as_ref().unwrap().attribute_name, "expires_at");
        let every_minute = |function: &str| ScheduleDecl { function: function.into(), every: Duration::from_secs(60) };
        assert_eq!(template.schedules, [every_minute("notification-digest"), every_minute("reminder-sweep")]);
        let mut routes: Vec<_> = template.routes.iter().map(|r| (r.function.as_str(), r.channels.clone())).collect();
        routes.sort();
        let channel = |name: &str| vec![name.to_owned()];
        assert_eq!(
            routes,
            [
                ("deliver-email", channel("email")),
                ("deliver-fax", channel("fax")),
                ("deliver-sms", channel("sms")),
                ("deliver-voice", channel("voice")),
                ("opt-in", vec![]),
            ]
        );
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("rate(1 minute)"), Some(Duration::from_secs(60)));
        assert_eq!(parse_rate("rate(5 minutes)"), Some(Duration::from_secs(300)));
        assert_eq!(parse_rate("cron(0 * * * ? *)"), None);
    }
}

# A service's lake for analysts (services.yaml `lake:`), the seed's Glue catalogue and Athena
# over the zones the service writes (docs/services/insights.md, "The lake"):
#
#   raw/web/dt=YYYY-MM-DD/hour=HH/*.jsonl.gz     the collector's enriched events, as received
#   curated/<table>/dt=YYYY-MM-DD/*.parquet      events, platform_events, bad_rows: compacted,
#                                                exactly once by id, joined with the geographic
#                                                reference (country_name, continent), by event day
#   results/                                     Athena's query results (they expire)
#
# Every table projects its partitions (dt, and hour for raw): no crawler, no MSCK REPAIR, no
# partition to register when the compaction writes a new day, and a WHERE on dt reads exactly
# those prefixes. Parquet columns are read by name, so a column the files add later is simply
# not seen until it is declared here, and one they lack reads as NULL.

locals {
  database = replace(var.name, "-", "_")

  # dt: one partition per day from var.first_day to today.
  day_projection = {
    "projection.dt.type"          = "date"
    "projection.dt.format"        = "yyyy-MM-dd"
    "projection.dt.range"         = "${var.first_day},NOW"
    "projection.dt.interval"      = "1"
    "projection.dt.interval.unit" = "DAYS"
  }

  # The curated tables (the compaction's output), column by column.
  curated = {
    events = {
      description = "Collector events (page and track), one row per event id, enriched and joined with the country reference"
      columns = [
        { name = "id", type = "string", comment = "client message id, or derived" },
        { name = "type", type = "string", comment = "page | track" },
        { name = "name", type = "string", comment = "track event name (NULL for page)" },
        { name = "path", type = "string", comment = "" },
        { name = "referrer", type = "string", comment = "full URL without its query string" },
        { name = "referrer_host", type = "string", comment = "" },
        { name = "properties", type = "string", comment = "flat JSON object: json_extract_scalar(properties, '$.key')" },
        { name = "timestamp", type = "timestamp", comment = "event time, UTC" },
        { name = "received_at", type = "timestamp", comment = "server time, UTC" },
        { name = "visitor", type = "string", comment = "daily visitor hash; NULL under DNT/Sec-GPC and for bots" },
        { name = "country", type = "string", comment = "ISO 3166-1 alpha-2" },
        { name = "country_name", type = "string", comment = "from reference/geo/countries.csv" },
        { name = "continent", type = "string", comment = "from reference/geo/countries.csv" },
        { name = "browser", type = "string", comment = "" },
        { name = "os", type = "string", comment = "" },
        { name = "device", type = "string", comment = "desktop | mobile | tablet | bot | other" },
        { name = "bot", type = "boolean", comment = "bots are left out of visitor metrics" },
        { name = "site", type = "string", comment = "" },
      ]
    }
    platform_events = {
      description = "The platform's CloudEvents (recipes, meetings, trend, media), one row per event id"
      columns = [
        { name = "id", type = "string", comment = "" },
        { name = "source", type = "string", comment = "" },
        { name = "type", type = "string", comment = "full CloudEvents type" },
        { name = "time", type = "timestamp", comment = "event time, UTC" },
        { name = "subject", type = "string", comment = "" },
        { name = "data", type = "string", comment = "the event's data as JSON" },
        { name = "received_at", type = "timestamp", comment = "" },
      ]
    }
    bad_rows = {
      description = "Events the collector rejected, with the reasons (never dropped), by received day"
      columns = [
        { name = "id", type = "string", comment = "derived from received_at, index and payload" },
        { name = "received_at", type = "timestamp", comment = "" },
        { name = "index", type = "int", comment = "position in the request's batch" },
        { name = "errors", type = "string", comment = "JSON array of {loc, msg}" },
        { name = "payload", type = "string", comment = "the event as sent, JSON, cut at 8 KiB" },
      ]
    }
  }

  # raw/web: the JSON lines exactly as the collector wrote them.
  raw_web_columns = [
    { name = "id", type = "string" },
    { name = "type", type = "string" },
    { name = "name", type = "string" },
    { name = "path", type = "string" },
    { name = "referrer", type = "string" },
    { name = "referrer_host", type = "string" },
    { name = "properties", type = "map<string,string>" },
    { name = "timestamp", type = "string" },
    { name = "received_at", type = "string" },
    { name = "visitor", type = "string" },
    { name = "country", type = "string" },
    { name = "browser", type = "string" },
    { name = "os", type = "string" },
    { name = "device", type = "string" },
    { name = "bot", type = "boolean" },
    { name = "site", type = "string" },
  ]
}

resource "aws_glue_catalog_database" "lake" {
  name        = local.database
  description = "Regatta lake of ${var.name}: curated Parquet tables and the raw web events"
}

resource "aws_glue_catalog_table" "curated" {
  for_each      = local.curated
  name          = each.key
  database_name = aws_glue_catalog_database.lake.name
  table_type    = "EXTERNAL_TABLE"
  description   = each.value.description

  parameters = merge(local.day_projection, {
    EXTERNAL                    = "TRUE"
    classification              = "parquet"
    "parquet.compression"       = "SNAPPY"
    "projection.enabled"        = "true"
    "storage.location.template" = "s3://${var.bucket}/curated/${each.key}/dt=$${dt}/"
  })

  partition_keys {
    name    = "dt"
    type    = "string"
    comment = "event day (UTC), YYYY-MM-DD"
  }

  storage_descriptor {
    location      = "s3://${var.bucket}/curated/${each.key}/"
    input_format  = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    output_format = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"

    ser_de_info {
      serialization_library = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
      parameters            = { "serialization.format" = "1" }
    }

    dynamic "columns" {
      for_each = each.value.columns
      content {
        name    = columns.value.name
        type    = columns.value.type
        comment = columns.value.comment == "" ? null : columns.value.comment
      }
    }
  }
}

resource "aws_glue_catalog_table" "raw_web" {
  name          = "raw_web"
  database_name = aws_glue_catalog_database.lake.name
  table_type    = "EXTERNAL_TABLE"
  description   = "The collector's events as received (gzipped JSON lines), by received day and hour: for checking the compaction"

  parameters = merge(local.day_projection, {
    EXTERNAL                    = "TRUE"
    classification              = "json"
    compressionType             = "gzip"
    "projection.enabled"        = "true"
    "projection.hour.type"      = "integer"
    "projection.hour.range"     = "0,23"
    "projection.hour.digits"    = "2"
    "storage.location.template" = "s3://${var.bucket}/raw/web/dt=$${dt}/hour=$${hour}/"
  })

  dynamic "partition_keys" {
    for_each = ["dt", "hour"]
    content {
      name = partition_keys.value
      type = "string"
    }
  }

  storage_descriptor {
    location      = "s3://${var.bucket}/raw/web/"
    input_format  = "org.apache.hadoop.mapred.TextInputFormat"
    output_format = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"

    ser_de_info {
      serialization_library = "org.openx.data.jsonserde.JsonSerDe"
      parameters            = { "ignore.malformed.json" = "true" }
    }

    dynamic "columns" {
      for_each = local.raw_web_columns
      content {
        name = columns.value.name
        type = columns.value.type
      }
    }
  }
}

# Results go to the lake's results/ zone, encrypted with the lake's key; the workgroup's
# settings override the client's, and a query that would scan more than the cutoff is
# cancelled (and billed only up to it).
resource "aws_athena_workgroup" "lake" {
  name          = var.name
  description   = "Analysts' SQL over the ${var.name} lake; results encrypted, scans capped"
  force_destroy = var.force_destroy

  configuration {
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true
    bytes_scanned_cutoff_per_query     = var.bytes_scanned_cutoff

    result_configuration {
      output_location = "s3://${var.bucket}/results/"
      encryption_configuration {
        encryption_option = "SSE_KMS"
        kms_key_arn       = var.kms_key_arn
      }
    }
  }
}

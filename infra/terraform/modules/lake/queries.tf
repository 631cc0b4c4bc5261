# The seed's analyst queries (its Athena SQL and the three QuickSight sheets: executive
# summary, geographic analysis, user behaviour), over the curated columns. Each filters on dt
# so that partition projection reads only those days. The seed's AVG(user_age) is gone: the
# collector never asks for an age.

locals {
  last_7_days  = "dt >= CAST(current_date - INTERVAL '7' DAY AS varchar)"
  last_30_days = "dt >= CAST(current_date - INTERVAL '30' DAY AS varchar)"

  queries = {
    "customer-behaviour-by-continent" = {
      description = "The seed's query: event volume and unique visitors per continent and event type, last 7 days"
      sql         = <<-SQL
        SELECT continent,
               COALESCE(name, type) AS event_type,
               COUNT(*) AS event_volume,
               COUNT(DISTINCT visitor) AS unique_visitors
        FROM events
        WHERE ${local.last_7_days}
          AND NOT bot
        GROUP BY 1, 2
        ORDER BY event_volume DESC;
      SQL
    }
    "executive-summary-daily" = {
      description = "Executive summary: visitors, page views and events per day, last 30 days"
      sql         = <<-SQL
        SELECT dt AS day,
               COUNT(DISTINCT visitor) FILTER (WHERE NOT bot) AS visitors,
               COUNT(*) FILTER (WHERE type = 'page' AND NOT bot) AS pageviews,
               COUNT(*) FILTER (WHERE NOT bot) AS events,
               COUNT(*) FILTER (WHERE bot) AS bot_events
        FROM events
        WHERE ${local.last_30_days}
        GROUP BY dt
        ORDER BY dt;
      SQL
    }
    "geographic-analysis-by-country" = {
      description = "Geographic analysis: visitors, page views and events per country and continent, last 30 days"
      sql         = <<-SQL
        SELECT COALESCE(continent, 'Unknown') AS continent,
               COALESCE(country_name, country, 'Unknown') AS country,
               COUNT(DISTINCT visitor) AS visitors,
               COUNT(*) FILTER (WHERE type = 'page') AS pageviews,
               COUNT(*) AS events
        FROM events
        WHERE ${local.last_30_days}
          AND NOT bot
        GROUP BY 1, 2
        ORDER BY visitors DESC, events DESC;
      SQL
    }
    "user-behaviour-top-pages" = {
      description = "User behaviour: the most viewed pages with their visitors, last 30 days"
      sql         = <<-SQL
        SELECT path,
               COUNT(*) AS pageviews,
               COUNT(DISTINCT visitor) AS visitors
        FROM events
        WHERE ${local.last_30_days}
          AND type = 'page'
          AND NOT bot
        GROUP BY path
        ORDER BY pageviews DESC
        LIMIT 50;
      SQL
    }
    "user-behaviour-referrers-and-devices" = {
      description = "User behaviour: where visitors come from and on what, last 30 days"
      sql         = <<-SQL
        SELECT COALESCE(referrer_host, '(direct)') AS referrer,
               device,
               browser,
               COUNT(DISTINCT visitor) AS visitors,
               COUNT(*) AS pageviews
        FROM events
        WHERE ${local.last_30_days}
          AND type = 'page'
          AND NOT bot
        GROUP BY 1, 2, 3
        ORDER BY visitors DESC
        LIMIT 100;
      SQL
    }
    "user-behaviour-funnel" = {
      description = "User behaviour: the seed's funnel home -> product -> cart -> purchase, visitors per step and day (steps in order), last 30 days"
      sql         = <<-SQL
        WITH firsts AS (
          SELECT dt,
                 visitor,
                 MIN("timestamp") FILTER (WHERE type = 'page' AND path = '/home') AS home,
                 MIN("timestamp") FILTER (WHERE type = 'page' AND path = '/product') AS product,
                 MIN("timestamp") FILTER (WHERE type = 'page' AND path = '/cart') AS cart,
                 MIN("timestamp") FILTER (WHERE type = 'track' AND name = 'purchase') AS purchase
          FROM events
          WHERE ${local.last_30_days}
            AND visitor IS NOT NULL
            AND NOT bot
          GROUP BY dt, visitor
        )
        SELECT dt AS day,
               COUNT(home) AS home,
               COUNT_IF(product > home) AS product,
               COUNT_IF(cart > product AND product > home) AS cart,
               COUNT_IF(purchase > cart AND cart > product AND product > home) AS purchase,
               ROUND(CAST(COUNT_IF(purchase > cart AND cart > product AND product > home) AS double)
                     / NULLIF(COUNT(home), 0), 4) AS conversion
        FROM firsts
        GROUP BY dt
        ORDER BY dt;
      SQL
    }
    "business-events-per-day" = {
      description = "Business outcomes: the platform's events per day and type (recipes, meetings, trend, media), last 30 days"
      sql         = <<-SQL
        SELECT dt AS day,
               type,
               COUNT(*) AS events
        FROM platform_events
        WHERE ${local.last_30_days}
        GROUP BY dt, type
        ORDER BY dt, events DESC;
      SQL
    }
    "bad-rows-by-reason" = {
      description = "Data quality: rejected collector events per field and reason, last 7 days"
      sql         = <<-SQL
        SELECT e.loc AS field,
               e.msg AS reason,
               COUNT(*) AS rows
        FROM bad_rows
        CROSS JOIN UNNEST(CAST(json_parse(errors) AS array(row(loc varchar, msg varchar)))) AS t (e)
        WHERE ${local.last_7_days}
        GROUP BY 1, 2
        ORDER BY rows DESC;
      SQL
    }
  }
}

resource "aws_athena_named_query" "this" {
  for_each    = local.queries
  name        = each.key
  description = each.value.description
  database    = aws_glue_catalog_database.lake.name
  workgroup   = aws_athena_workgroup.lake.id
  query       = each.value.sql
}

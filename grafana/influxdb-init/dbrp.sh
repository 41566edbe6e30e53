#!/bin/sh
# Runs once after InfluxDB 2 set-up: map database "$DOCKER_INFLUXDB_INIT_BUCKET" (retention
# policy autogen) to the bucket, so InfluxQL (the dashboards' language) finds it. Recent 2.x
# versions also provide a virtual mapping; an explicit one works on all of them.
set -e
BUCKET_ID=$(influx bucket list --name "$DOCKER_INFLUXDB_INIT_BUCKET" --hide-headers | cut -f1)
influx v1 dbrp create --db "$DOCKER_INFLUXDB_INIT_BUCKET" --rp autogen \
  --bucket-id "$BUCKET_ID" --default || true

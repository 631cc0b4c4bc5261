#!/bin/sh
# Container entrypoint of every Regatta service image: load the optional env file, then become
# the command (exec), so uvicorn or the worker is PID 1 and receives SIGTERM itself.
#
# REGATTA_ENV_FILE names a KEY=value file written at run time by someone else: under compose,
# the provisioner writes the emulator's Cognito ids there. Variables already set win. In ECS
# the variable is unset and this script only execs.
set -eu

if [ -n "${REGATTA_ENV_FILE:-}" ]; then
    if [ ! -r "$REGATTA_ENV_FILE" ]; then
        echo "entrypoint: REGATTA_ENV_FILE=$REGATTA_ENV_FILE is not readable" >&2
        exit 2
    fi
    while IFS= read -r line || [ -n "$line" ]; do
        case "$line" in
            '' | '#'*) continue ;;
        esac
        key=${line%%=*}
        case "$key" in
            *[!A-Za-z0-9_]* | '' | [0-9]*)
                echo "entrypoint: bad line in $REGATTA_ENV_FILE: $line" >&2
                exit 2
                ;;
        esac
        if eval "[ -z \"\${$key+set}\" ]"; then
            export "$key=${line#*=}"
        fi
    done < "$REGATTA_ENV_FILE"
fi

# uvicorn believes X-Forwarded-For/-Proto only from the addresses in FORWARDED_ALLOW_IPS (its
# --forwarded-allow-ips; in ECS the VPC's CIDR, where the ALB and CloudFront's VPC origin
# are). A wildcard would let any client choose its own address and scheme.
case "${FORWARDED_ALLOW_IPS:-}" in
    *'*'*)
        echo "entrypoint: FORWARDED_ALLOW_IPS must name the proxies' addresses, not '*'" >&2
        exit 2
        ;;
esac

if [ "$#" -eq 0 ]; then
    echo "entrypoint: no command given" >&2
    exit 2
fi
exec "$@"

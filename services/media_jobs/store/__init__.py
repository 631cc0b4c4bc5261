"""Where media-jobs keeps things, one module per resource.

    jobs      job records (and output-prefix claims) in the media-jobs table; the service's
              events, committed with the job changes they announce (the outbox)
    leases    one workflow run per job at a time, in the idempotency table
    sources   the bucket videos and metadata files are uploaded to
    outputs   the bucket encoded outputs are published from
    queues    commands put back on the uploads queue
    errors    what these raise, and the AWS error codes they recognise
"""

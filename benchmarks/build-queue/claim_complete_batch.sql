-- One batch: claim up to :batch builds in one statement, then report all their results in one
-- transaction (two commits per batch instead of two per job), as a worker running several builds does.
SELECT coalesce(json_agg(json_build_object('build_id', c -> 'build_id', 'lease_token', c -> 'lease_token',
                                           'status', 'SUCCEEDED', 'log', 'ok')), '[]') AS results
FROM json_array_elements(api.claim_builds('pgbench', :batch)) c \gset
SELECT api.complete_builds(:results::json) WHERE :results::text <> '[]';  -- -M prepared: :results is a parameter

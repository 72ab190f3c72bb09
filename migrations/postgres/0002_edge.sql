-- Edge: the parsed `_headers` / `_redirects` of each deployment (JSON, see tmahost_deploy::Rules).
ALTER TABLE deployments ADD COLUMN rules TEXT NOT NULL DEFAULT '{}';

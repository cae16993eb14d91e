-- What the analyzer looks near copies up by (analysis.events.fingerprint_keys, stores.analysis_state.key_of):
-- ten keys of each fingerprint and first-paragraph fingerprint, each two of five blocks of bits (two fingerprints
-- within 3 bits share one), in place of 0008's four 16-bit bands (which any fingerprint shares by chance with odds
-- of 6 in 100,000, a key with odds of 2 in 10 million). Each index is built from the fingerprints stored.
DROP INDEX analysis_posts_fingerprint_band0;
DROP INDEX analysis_posts_fingerprint_band1;
DROP INDEX analysis_posts_fingerprint_band2;
DROP INDEX analysis_posts_fingerprint_band3;
DROP INDEX analysis_posts_lead_band0;
DROP INDEX analysis_posts_lead_band1;
DROP INDEX analysis_posts_lead_band2;
DROP INDEX analysis_posts_lead_band3;
CREATE INDEX analysis_posts_fingerprint_key0 ON analysis_posts ((((fingerprint >> 0) & 8191) | (((fingerprint >> 13) & 8191) << 13))) WHERE fingerprint IS NOT NULL;
CREATE INDEX analysis_posts_fingerprint_key1 ON analysis_posts ((((fingerprint >> 0) & 8191) | (((fingerprint >> 26) & 8191) << 13))) WHERE fingerprint IS NOT NULL;
CREATE INDEX analysis_posts_fingerprint_key2 ON analysis_posts ((((fingerprint >> 0) & 8191) | (((fingerprint >> 39) & 8191) << 13))) WHERE fingerprint IS NOT NULL;
CREATE INDEX analysis_posts_fingerprint_key3 ON analysis_posts ((((fingerprint >> 0) & 8191) | (((fingerprint >> 52) & 4095) << 13))) WHERE fingerprint IS NOT NULL;
CREATE INDEX analysis_posts_fingerprint_key4 ON analysis_posts ((((fingerprint >> 13) & 8191) | (((fingerprint >> 26) & 8191) << 13))) WHERE fingerprint IS NOT NULL;
CREATE INDEX analysis_posts_fingerprint_key5 ON analysis_posts ((((fingerprint >> 13) & 8191) | (((fingerprint >> 39) & 8191) << 13))) WHERE fingerprint IS NOT NULL;
CREATE INDEX analysis_posts_fingerprint_key6 ON analysis_posts ((((fingerprint >> 13) & 8191) | (((fingerprint >> 52) & 4095) << 13))) WHERE fingerprint IS NOT NULL;
CREATE INDEX analysis_posts_fingerprint_key7 ON analysis_posts ((((fingerprint >> 26) & 8191) | (((fingerprint >> 39) & 8191) << 13))) WHERE fingerprint IS NOT NULL;
CREATE INDEX analysis_posts_fingerprint_key8 ON analysis_posts ((((fingerprint >> 26) & 8191) | (((fingerprint >> 52) & 4095) << 13))) WHERE fingerprint IS NOT NULL;
CREATE INDEX analysis_posts_fingerprint_key9 ON analysis_posts ((((fingerprint >> 39) & 8191) | (((fingerprint >> 52) & 4095) << 13))) WHERE fingerprint IS NOT NULL;
CREATE INDEX analysis_posts_lead_key0 ON analysis_posts ((((lead >> 0) & 8191) | (((lead >> 13) & 8191) << 13))) WHERE lead IS NOT NULL;
CREATE INDEX analysis_posts_lead_key1 ON analysis_posts ((((lead >> 0) & 8191) | (((lead >> 26) & 8191) << 13))) WHERE lead IS NOT NULL;
CREATE INDEX analysis_posts_lead_key2 ON analysis_posts ((((lead >> 0) & 8191) | (((lead >> 39) & 8191) << 13))) WHERE lead IS NOT NULL;
CREATE INDEX analysis_posts_lead_key3 ON analysis_posts ((((lead >> 0) & 8191) | (((lead >> 52) & 4095) << 13))) WHERE lead IS NOT NULL;
CREATE INDEX analysis_posts_lead_key4 ON analysis_posts ((((lead >> 13) & 8191) | (((lead >> 26) & 8191) << 13))) WHERE lead IS NOT NULL;
CREATE INDEX analysis_posts_lead_key5 ON analysis_posts ((((lead >> 13) & 8191) | (((lead >> 39) & 8191) << 13))) WHERE lead IS NOT NULL;
CREATE INDEX analysis_posts_lead_key6 ON analysis_posts ((((lead >> 13) & 8191) | (((lead >> 52) & 4095) << 13))) WHERE lead IS NOT NULL;
CREATE INDEX analysis_posts_lead_key7 ON analysis_posts ((((lead >> 26) & 8191) | (((lead >> 39) & 8191) << 13))) WHERE lead IS NOT NULL;
CREATE INDEX analysis_posts_lead_key8 ON analysis_posts ((((lead >> 26) & 8191) | (((lead >> 52) & 4095) << 13))) WHERE lead IS NOT NULL;
CREATE INDEX analysis_posts_lead_key9 ON analysis_posts ((((lead >> 39) & 8191) | (((lead >> 52) & 4095) << 13))) WHERE lead IS NOT NULL;

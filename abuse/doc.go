// Package abuse holds huskyai's per-client defences against the attacks of
// the Husky AI series, independent of HTTP: who the client is behind
// trusted proxies (ClientAddr, Key), a token-bucket rate limit per client
// (RateLimiter), and the detector of clients that send many nearly
// identical images, the pattern of model probing and of the search for
// adversarial examples (ProbeDetector). Both keep their per-client state
// in one bounded table that forgets idle clients. The server answers for
// them (429, Retry-After, metrics, audit).
package abuse

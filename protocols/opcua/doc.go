// Package opcua reads OPC UA servers for the appliance.
//
// Points are polled (one Read request per poll) or subscribed to (monitored
// items whose notifications are buffered between polls and returned by the
// next Poll with their receive time, so no change between polls is lost).
// The connection is secured with the standard security policies, the user
// is anonymous, a user name and password, or an X.509 certificate. After a
// server restart or a network cut the source reconnects with backoff,
// resolves "nsu=" node ids against the server's NamespaceArray again and
// re-creates its subscriptions. Browse lists a server's address space so
// an integrator can write the configuration.
//
// The configuration, with every option, is in README.md; its sample is
// sample.yaml, which a test loads through the appliance's loader.
//
// Certificates live in protocols.Options.StateDir, shared by all OPC UA
// devices: own/cert.pem and own/key.pem (the application certificate,
// generated on first start), trusted/ (server certificates an operator
// trusts) and rejected/ (server certificates presented but not trusted;
// move one into trusted/ to trust it).
package opcua

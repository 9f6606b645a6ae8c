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
// A device entry using most keys:
//
//	endpoint: opc.tcp://plc.local:4840
//	security_policy: Basic256Sha256       # None | Basic256Sha256 | Aes128Sha256RsaOaep | Aes256Sha256RsaPss
//	security_mode: SignAndEncrypt         # None | Sign | SignAndEncrypt
//	trust_on_first_use: false
//	username: operator                    # or user_cert_file + user_key_file; anonymous when neither
//	password_file: secrets/plc.password   # or password_env: PLC_PASSWORD; never inline
//	mode: subscribe                       # default for the points: poll | subscribe
//	subscription:
//	  publishing_interval: 500ms
//	  sampling_interval: 100ms
//	  queue_size: 10
//	  max_items_per_subscription: 1000
//	  buffer_size: 10000
//	points:
//	  - {name: temperature, node_id: "nsu=urn:vendor:plant;s=Furnace.Temp", unit: degC, deadband_absolute: 0.5}
//	  - {name: level,       node_id: "ns=2;i=5001", deadband_percent: 1}
//	  - {name: state,       node_id: "ns=2;i=5002", mode: poll}
//
// Certificates live in protocols.Options.StateDir, shared by all OPC UA
// devices: own/cert.pem and own/key.pem (the application certificate,
// generated on first start), trusted/ (server certificates an operator
// trusts) and rejected/ (server certificates presented but not trusted;
// move one into trusted/ to trust it).
package opcua

// A node-opcua server that the Go tests of protocols/opcua run as a
// third-party OPC UA peer (no OPC UA server is packaged in Debian).
//
//   node server.js --port 48400 --pki /tmp/pki [--user user1 --password password1]
//
// It listens on 127.0.0.1 only, offers security None and Basic256Sha256,
// Aes128_Sha256_RsaOaep and Aes256_Sha256_RsaPss with Sign and
// SignAndEncrypt, accepts anonymous users, the given user name and password,
// and X.509 users, and automatically accepts unknown client certificates
// (acceptable for a test peer only). When ready it prints one line
// "READY <endpoint>" on stdout. It exits when its stdin closes, so it never
// outlives the test that started it.
//
// Address space, in namespace "urn:wotchain:test-server", under
// Objects/Plant (string node ids):
//   Plant.Double   Double   3.25
//   Plant.Int32    Int32    -42
//   Plant.Boolean  Boolean  true
//   Plant.String   String   "hello opc ua"
//   Plant.Counter  Int32    +1 every 100 ms, starting at 0
//   Plant.Sawtooth Double   AnalogItem, EURange 0..100, every 100 ms:
//                            10*floor(n/10) + 0.1*(n%10), n = 0..99 repeating;
//                            steps of 0.1 with a jump at every multiple of 10
"use strict";

const path = require("path");
const {
  OPCUAServer,
  OPCUACertificateManager,
  SecurityPolicy,
  MessageSecurityMode,
  DataType,
  Variant,
  StatusCodes,
} = require("node-opcua");

const NAMESPACE_URI = "urn:wotchain:test-server";

function parseArgs(argv) {
  const args = { port: 0, pki: "", user: "user1", password: "password1" };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, "");
    if (!(key in args) || i + 1 >= argv.length) {
      throw new Error(`usage: node server.js --port N --pki DIR [--user U --password P] (bad argument ${argv[i]})`);
    }
    args[key] = argv[i + 1];
  }
  args.port = Number(args.port);
  if (!Number.isInteger(args.port) || args.port < 1 || args.port > 65535) {
    throw new Error("--port must be 1..65535");
  }
  if (!args.pki) {
    throw new Error("--pki DIR is required");
  }
  return args;
}

function buildAddressSpace(server) {
  const addressSpace = server.engine.addressSpace;
  const ns = addressSpace.registerNamespace(NAMESPACE_URI);
  const plant = ns.addFolder(addressSpace.rootFolder.objects, {
    nodeId: "s=Plant",
    browseName: "Plant",
  });
  const constant = (name, dataType, value) =>
    ns.addVariable({
      componentOf: plant,
      nodeId: `s=Plant.${name}`,
      browseName: name,
      dataType,
      value: new Variant({ dataType: DataType[dataType], value }),
    });
  constant("Double", "Double", 3.25);
  constant("Int32", "Int32", -42);
  constant("Boolean", "Boolean", true);
  constant("String", "String", "hello opc ua");

  let counter = 0;
  const counterVar = ns.addVariable({
    componentOf: plant,
    nodeId: "s=Plant.Counter",
    browseName: "Counter",
    dataType: "Int32",
    value: new Variant({ dataType: DataType.Int32, value: counter }),
  });

  let step = 0;
  const sawtoothValue = (n) => 10 * Math.floor(n / 10) + Math.round((n % 10) * 10) / 100;
  const sawtooth = ns.addAnalogDataItem({
    componentOf: plant,
    nodeId: "s=Plant.Sawtooth",
    browseName: "Sawtooth",
    dataType: "Double",
    engineeringUnitsRange: { low: 0, high: 100 },
    value: new Variant({ dataType: DataType.Double, value: sawtoothValue(0) }),
  });

  return setInterval(() => {
    counter += 1;
    step = (step + 1) % 100;
    const now = new Date();
    counterVar.setValueFromSource(new Variant({ dataType: DataType.Int32, value: counter }), StatusCodes.Good, now);
    sawtooth.setValueFromSource(new Variant({ dataType: DataType.Double, value: sawtoothValue(step) }), StatusCodes.Good, now);
  }, 100);
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const acceptAll = (folder) =>
    new OPCUACertificateManager({
      rootFolder: path.join(args.pki, folder),
      automaticallyAcceptUnknownCertificate: true,
    });

  const server = new OPCUAServer({
    port: args.port,
    host: "127.0.0.1", // the TCP listener; node-opcua binds every interface without it
    hostname: "127.0.0.1", // the host name in the advertised endpoint URLs
    serverCertificateManager: acceptAll("server"),
    userCertificateManager: acceptAll("user"),
    securityPolicies: [
      SecurityPolicy.None,
      SecurityPolicy.Basic256Sha256,
      SecurityPolicy.Aes128_Sha256_RsaOaep,
      SecurityPolicy.Aes256_Sha256_RsaPss,
    ],
    securityModes: [MessageSecurityMode.None, MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt],
    allowAnonymous: true,
    userManager: {
      isValidUser: (user, password) => user === args.user && password === args.password,
    },
    buildInfo: { productName: "wotchain node-opcua test server" },
  });

  await server.initialize();
  const ticker = buildAddressSpace(server);
  await server.start();

  let stopping = false;
  const stop = async (why) => {
    if (stopping) {
      return;
    }
    stopping = true;
    clearInterval(ticker);
    process.stderr.write(`stopping: ${why}\n`);
    // A bounded shutdown: node-opcua waits for sessions otherwise.
    setTimeout(() => process.exit(0), 2000).unref();
    try {
      await server.shutdown(0);
    } finally {
      process.exit(0);
    }
  };
  process.stdin.on("end", () => stop("stdin closed"));
  process.stdin.on("close", () => stop("stdin closed"));
  process.stdin.resume();
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));

  process.stdout.write(`READY ${server.getEndpointUrl()}\n`);
}

main().catch((err) => {
  process.stderr.write(`server failed: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});

package network

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	"github.com/hyperledger/fabric-gateway/pkg/identity"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// probeTransaction is a read-only transaction that succeeds on an empty
// ledger; endorsing it needs the whole endorsement policy.
const probeTransaction = "ListByAppliance"

// waitGatewaysReady waits until each organisation's gateway can collect
// endorsements from both organisations. Until gossip has spread membership
// and installed chaincodes (a few seconds on a fresh network), the gateway
// answers "no combination of peers can be derived which satisfy the
// endorsement policy". The probe is endorsed, never submitted, so it leaves
// nothing on the ledger; it also has every peer connect to the chaincode.
func waitGatewaysReady(ctx context.Context, l layout, orgs []orgSpec, channel, chaincode string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, o := range orgs {
		if err := probeGateway(ctx, l, o, channel, chaincode); err != nil {
			return err
		}
	}
	return nil
}

func probeGateway(ctx context.Context, l layout, o orgSpec, channel, chaincode string) error {
	msp := o.userMSP(l, "Admin")
	certPEM, err := os.ReadFile(filepath.Join(msp, "signcerts", "Admin@"+o.domain+"-cert.pem"))
	if err != nil {
		return err
	}
	cert, err := identity.CertificateFromPEM(certPEM)
	if err != nil {
		return err
	}
	id, err := identity.NewX509Identity(o.mspID, cert)
	if err != nil {
		return err
	}
	keyPEM, err := os.ReadFile(firstFile(filepath.Join(msp, "keystore")))
	if err != nil {
		return err
	}
	key, err := identity.PrivateKeyFromPEM(keyPEM)
	if err != nil {
		return err
	}
	sign, err := identity.NewPrivateKeySign(key)
	if err != nil {
		return err
	}
	caPEM, err := os.ReadFile(filepath.Join(o.peerDir(l), "tls", "ca.crt"))
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	conn, err := grpc.NewClient(o.peerAddress(), grpc.WithTransportCredentials(credentials.NewClientTLSFromCert(pool, o.peerHost())))
	if err != nil {
		return err
	}
	defer conn.Close()
	gw, err := client.Connect(id, client.WithSign(sign), client.WithClientConnection(conn))
	if err != nil {
		return err
	}
	defer gw.Close()
	contract := gw.GetNetwork(channel).GetContract(chaincode)
	for {
		proposal, err := contract.NewProposal(probeTransaction, client.WithArguments("readiness-probe", "1", ""))
		if err != nil {
			return err
		}
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = proposal.EndorseWithContext(actx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gateway of %s cannot endorse with both organisations: %w (last error: %v)", o.peerHost(), ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

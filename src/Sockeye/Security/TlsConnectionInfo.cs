using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Sockeye.Security;

/// <summary>What the TLS handshake of one connection settled: the protocol, the cipher suite, ALPN,
/// the server name the client asked for, and its certificate. Read it with
/// <see cref="ConnectionSecurityExtensions.GetTlsInfo(Connection)"/>.</summary>
public sealed class TlsConnectionInfo
{
    internal TlsConnectionInfo(SslStream stream, string? serverName)
    {
        Protocol = stream.SslProtocol;
        CipherSuite = stream.NegotiatedCipherSuite;
        ApplicationProtocol = stream.NegotiatedApplicationProtocol;
        ServerName = string.IsNullOrEmpty(serverName) ? null : serverName;
        ClientCertificate = stream.RemoteCertificate as X509Certificate2;
    }

    /// <summary>The TLS version in use.</summary>
    public SslProtocols Protocol { get; }

    /// <summary>The cipher suite in use.</summary>
    public TlsCipherSuite CipherSuite { get; }

    /// <summary>The application protocol chosen by ALPN; <c>default</c> when none was.</summary>
    public SslApplicationProtocol ApplicationProtocol { get; }

    /// <summary>The server name the client asked for (SNI), or <see langword="null"/>.</summary>
    public string? ServerName { get; }

    /// <summary>The client's certificate, when it sent one and it was accepted.</summary>
    public X509Certificate2? ClientCertificate { get; }
}

using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Security;

/// <summary>Self-signed certificates made by the tests themselves (no private key is committed), and a
/// TLS client over a real loopback socket.</summary>
internal static class TestCertificates
{
    /// <summary>A self-signed ECDSA P-256 certificate for <paramref name="names"/>, valid for a day.</summary>
    public static X509Certificate2 Create(string subject, params string[] names)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={subject}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        foreach (var name in names.Length == 0 ? [subject] : names)
        {
            san.AddDnsName(name);
        }

        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], critical: false));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
    }

    /// <summary>Writes <paramref name="certificate"/> and its key as PEM files; returns their paths.</summary>
    public static (string Certificate, string Key) WritePem(X509Certificate2 certificate, string directory, string name)
    {
        var certificatePath = Path.Combine(directory, name + ".crt");
        var keyPath = Path.Combine(directory, name + ".key");
        File.WriteAllText(certificatePath, certificate.ExportCertificatePem());
        File.WriteAllText(keyPath, certificate.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        return (certificatePath, keyPath);
    }

    /// <summary>Connects over TLS, trusting any server certificate; the chosen one is in
    /// <see cref="TlsClient.ServerCertificate"/>.</summary>
    public static async Task<TlsClient> ConnectAsync(EndPoint server, string targetHost = "localhost",
        X509Certificate2? clientCertificate = null, List<SslApplicationProtocol>? alpn = null, IPAddress? source = null,
        System.Security.Authentication.SslProtocols protocols = System.Security.Authentication.SslProtocols.None)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        if (source is not null)
        {
            socket.Bind(new IPEndPoint(source, 0));
        }

        await socket.ConnectAsync(server).WaitAsync(Loopback.Patience);
        var stream = new SslStream(new NetworkStream(socket, ownsSocket: true));
        X509Certificate2? seen = null;
#pragma warning disable CA5359 // the tests' certificates are self-signed; the test checks which one was served
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = targetHost,
            RemoteCertificateValidationCallback = (_, certificate, _, _) =>
            {
                seen = certificate as X509Certificate2;
                return true;
            },
            ClientCertificates = clientCertificate is null ? null : [clientCertificate],
            ApplicationProtocols = alpn,
            EnabledSslProtocols = protocols,
        };
#pragma warning restore CA5359
        try
        {
            using var timeout = new CancellationTokenSource(Loopback.Patience);
            await stream.AuthenticateAsClientAsync(options, timeout.Token);
        }
        catch
        {
            await stream.DisposeAsync();
            throw;
        }

        return new TlsClient(stream, seen!);
    }
}

/// <summary>A TLS client connection for tests.</summary>
internal sealed class TlsClient(SslStream stream, X509Certificate2 serverCertificate) : IAsyncDisposable
{
    public SslStream Stream { get; } = stream;

    public X509Certificate2 ServerCertificate { get; } = serverCertificate;

    public async Task SendAsync(ReadOnlyMemory<byte> data)
    {
        using var timeout = new CancellationTokenSource(Loopback.Patience);
        await Stream.WriteAsync(data, timeout.Token);
        await Stream.FlushAsync(timeout.Token);
    }

    public Task<byte[]> ReceiveExactlyAsync(int count) => Stream.ReceiveExactlyAsync(count);

    /// <summary>Reads until the server ends the connection (close_notify, FIN or RST).</summary>
    public Task WaitForEndAsync() => Stream.ReceiveToEndAsync();

    public ValueTask DisposeAsync() => Stream.DisposeAsync();
}

// kestrel-echo: the reference Kestrel server. Raw TCP through Kestrel's sockets transport and a
// ConnectionHandler that echoes with pipes, with Kestrel's defaults (no HTTP, no logging).
//
// With --tls-cert and --tls-key, the same handler behind Kestrel's TLS middleware
// (ListenOptions.UseHttps: SslStream, Kestrel's defaults), for comparing idle TLS memory.
//
// usage: kestrel-echo [port] [--tls-cert cert.pem --tls-key key.pem]
//        prints "listening on 127.0.0.1:PORT", runs until killed.
using System.Buffers;
using System.Globalization;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using KestrelEcho;
using Microsoft.AspNetCore.Connections;

var port = args.Length > 0 && !args[0].StartsWith("--", StringComparison.Ordinal) ? int.Parse(args[0], CultureInfo.InvariantCulture) : 7003;
var certificate = LoadCertificate(args);
var builder = WebApplication.CreateSlimBuilder();
builder.Logging.ClearProviders();
builder.WebHost.ConfigureKestrel(kestrel =>
    kestrel.Listen(IPAddress.Loopback, port, listen =>
    {
        if (certificate is not null)
        {
            listen.UseHttps(certificate);
        }

        listen.UseConnectionHandler<EchoConnectionHandler>();
    }));
var app = builder.Build();
app.Lifetime.ApplicationStarted.Register(() => Console.WriteLine($"listening on 127.0.0.1:{port}"));
await app.RunAsync();

// The certificate of --tls-cert and --tls-key (PEM, as `sockeye serve echo` takes them), or null for plain TCP.
static X509Certificate2? LoadCertificate(string[] args)
{
    var cert = Option(args, "--tls-cert");
    var key = Option(args, "--tls-key");
    if (cert is null && key is null)
    {
        return null;
    }

    if (cert is null || key is null)
    {
        throw new ArgumentException("--tls-cert and --tls-key go together");
    }

    return X509Certificate2.CreateFromPemFile(cert, key);
}

static string? Option(string[] args, string name)
{
    var index = Array.IndexOf(args, name);
    return index >= 0 && index + 1 < args.Length ? args[index + 1] : null;
}

namespace KestrelEcho
{
    /// <summary>Echoes every byte back, one pipe read and one flush at a time.</summary>
    internal sealed class EchoConnectionHandler : ConnectionHandler
    {
        public override async Task OnConnectedAsync(ConnectionContext connection)
        {
            var input = connection.Transport.Input;
            var output = connection.Transport.Output;
            while (true)
            {
                var result = await input.ReadAsync();
                foreach (var segment in result.Buffer)
                {
                    output.Write(segment.Span);
                }

                input.AdvanceTo(result.Buffer.End);
                var flush = await output.FlushAsync();
                if (result.IsCompleted || flush.IsCompleted)
                {
                    return;
                }
            }
        }
    }
}

// kestrel-echo: the reference Kestrel server. Raw TCP through Kestrel's sockets transport and a
// ConnectionHandler that echoes with pipes, with Kestrel's defaults (no HTTP, no logging).
//
// usage: kestrel-echo [port]     prints "listening on 127.0.0.1:PORT", runs until killed.
using System.Buffers;
using System.Globalization;
using System.Net;
using KestrelEcho;
using Microsoft.AspNetCore.Connections;

var port = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 7003;
var builder = WebApplication.CreateSlimBuilder();
builder.Logging.ClearProviders();
builder.WebHost.ConfigureKestrel(kestrel =>
    kestrel.Listen(IPAddress.Loopback, port, listen => listen.UseConnectionHandler<EchoConnectionHandler>()));
var app = builder.Build();
app.Lifetime.ApplicationStarted.Register(() => Console.WriteLine($"listening on 127.0.0.1:{port}"));
await app.RunAsync();

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

// README's first example, as written there: a line echo server that runs until SIGTERM or Ctrl-C.
using System.Net;
using Sockeye;
using Sockeye.Framing;

var port = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 7000;
await using var server = new TcpServer(new TcpServerOptions
{
    EndPoint = new IPEndPoint(IPAddress.Loopback, port),
    MaxConnections = 100_000,
    IdleTimeout = TimeSpan.FromMinutes(2),
});

// Serves until SIGTERM or Ctrl-C; then stops accepting, lets handlers finish (10 s), aborts the rest.
Console.WriteLine($"echoing lines on 127.0.0.1:{port}; Ctrl-C stops");
ShutdownSummary summary = await server.RunAsync(async connection =>  // one task per connection
{
    var lines = new LineCodec(maxLineLength: 4096);                    // a limit you cannot forget
    await foreach (var line in connection.ReadFramesAsync(lines))       // ends when asked to drain
        await connection.WriteFrameAsync(lines, line);
});
Console.WriteLine($"stopped: {summary.Drained} drained, {summary.Aborted} aborted");
return summary.IsClean ? 0 : 1;

// A complete Generic Host app. The host brings appsettings.json, environment variables
// (Sockeye__Listeners__echo__Port=7001), command-line overrides (--Sockeye:Listeners:echo:Port=7001),
// console logging and SIGTERM/Ctrl-C; Sockeye brings the listeners and their graceful drain.
using System.Buffers;
using System.Text;
using Microsoft.Extensions.Hosting;
using Sockeye;
using Sockeye.Framing;
using Sockeye.Hosting;

var builder = Host.CreateApplicationBuilder(args);
builder.Services.AddSockeye(sockeye => sockeye
    // "echo" comes from appsettings.json alone (Protocol: echo); "upper" is written here and
    // configured there: each line comes back in upper case.
    .AddListener("upper", async connection =>
    {
        var lines = new LineCodec(maxLineLength: 4096);
        await foreach (var line in connection.ReadFramesAsync(lines))
        {
            var upper = Encoding.UTF8.GetString(line.ToArray()).ToUpperInvariant();
            await connection.WriteFrameAsync(lines, Encoding.UTF8.GetBytes(upper));
        }
    }));

await builder.Build().RunAsync();

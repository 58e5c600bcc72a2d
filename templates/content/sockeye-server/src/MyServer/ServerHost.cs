using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry.Metrics;
using Sockeye.Diagnostics;
using Sockeye.Hosting;

namespace MyServer;

/// <summary>Builds the server's host: the program runs it, the tests start it on a free port.</summary>
public static class ServerHost
{
    /// <summary>A host with the "echo" listener (configured under Sockeye:Listeners:echo) and the
    /// Sockeye meter served in Prometheus format at http://Metrics:Host:Metrics:Port/metrics.</summary>
    public static IHost Create(string[] args)
    {
        var builder = Host.CreateApplicationBuilder(args);

        // One DI scope per connection; the handler's options come from configuration.
        builder.Services.AddSockeye(sockeye => sockeye.AddListener<LineEchoHandler>("echo"));

        var metrics = builder.Configuration.GetSection("Metrics");
        builder.Services.AddOpenTelemetry().WithMetrics(meters => meters
            .AddMeter(SockeyeMetrics.MeterName)
            .AddPrometheusHttpListener(options =>
            {
                options.Host = metrics["Host"] ?? "127.0.0.1";
                options.Port = metrics.GetValue("Port", 9464);
            }));

        return builder.Build();
    }
}

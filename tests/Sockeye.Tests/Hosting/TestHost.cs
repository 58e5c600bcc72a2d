using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Sockeye.Hosting;

namespace Sockeye.Tests.Hosting;

/// <summary>A Generic Host with nothing but the configuration and services a test gives it.</summary>
internal static class TestHost
{
    public static IHost Build(
        Action<SockeyeBuilder>? sockeye = null,
        IDictionary<string, string?>? settings = null,
        Action<IConfigurationBuilder>? configuration = null,
        Action<IServiceCollection>? services = null,
        TimeSpan? shutdownTimeout = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        if (settings is not null)
        {
            builder.Configuration.AddInMemoryCollection(settings);
        }

        configuration?.Invoke(builder.Configuration);
        services?.Invoke(builder.Services);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = shutdownTimeout ?? TimeSpan.FromSeconds(20));
        builder.Services.AddSockeye(sockeye);
        return builder.Build();
    }

    public static SockeyeListener Listener(this IHost host, string name) =>
        host.Services.GetRequiredService<SockeyeListeners>()[name];
}

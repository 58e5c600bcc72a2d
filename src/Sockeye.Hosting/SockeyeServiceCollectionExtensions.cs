using Microsoft.Extensions.DependencyInjection;
using Sockeye.Hosting.Internal;

namespace Sockeye.Hosting;

/// <summary>Adds Sockeye's listeners to a Generic Host application.</summary>
public static class SockeyeServiceCollectionExtensions
{
    /// <summary>
    /// Runs Sockeye listeners with the host: they start when the host starts (after every listener's
    /// configuration is checked), log through the host's logging, and drain gracefully when the host
    /// stops, aborting the connections still open when the host's shutdown timeout ends.
    /// </summary>
    /// <example>
    /// <code>
    /// var builder = Host.CreateApplicationBuilder(args);
    /// builder.Services.AddSockeye(sockeye => sockeye.AddListener&lt;ChatHandler&gt;("chat"));
    /// await builder.Build().RunAsync();   // plus any listener in appsettings.json's Sockeye:Listeners
    /// </code>
    /// </example>
    /// <param name="services">The application's services.</param>
    /// <param name="configure">Adds listeners and protocols; may be called again through another
    /// <c>AddSockeye</c> call, which returns the same builder.</param>
    /// <returns>The builder, to add more listeners.</returns>
    public static SockeyeBuilder AddSockeye(this IServiceCollection services, Action<SockeyeBuilder>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var builder = services.FirstOrDefault(d => d.ServiceType == typeof(SockeyeBuilder))?.ImplementationInstance as SockeyeBuilder;
        if (builder is null)
        {
            builder = new SockeyeBuilder(services);
            services.AddSingleton(builder);
            services.AddSingleton(_ => new SockeyeListeners());
            services.AddHostedService<SockeyeHostedService>();
        }

        configure?.Invoke(builder);
        return builder;
    }
}

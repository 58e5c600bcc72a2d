using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.DependencyInjection;
using Sockeye.Udp;

namespace Sockeye.Hosting.Internal;

/// <summary>Takes a UDP listener's one handler instance from the services when the listener starts.</summary>
internal static class SharedHandler
{
    /// <summary>The registered <typeparamref name="THandler"/>, or a new one (returned as owned, so the
    /// listener disposes it when it stops; the container disposes what it registered).</summary>
    public static (Func<Datagram, ValueTask> Handle, object? Owned) Create<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] THandler>(IServiceProvider services)
        where THandler : class, IDatagramHandler
    {
        if (services.GetService<THandler>() is { } registered)
        {
            return (registered.HandleAsync, null);
        }

        var created = ActivatorUtilities.CreateInstance<THandler>(services);
        return (created.HandleAsync, created);
    }
}

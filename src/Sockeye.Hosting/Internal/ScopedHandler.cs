using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.DependencyInjection;

namespace Sockeye.Hosting.Internal;

/// <summary>Runs each connection's handler inside its own service scope.</summary>
internal static class ScopedHandler
{
    public static Func<Connection, Task> Create<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] THandler>(IServiceProvider services)
        where THandler : class, IConnectionHandler
    {
        var scopes = services.GetRequiredService<IServiceScopeFactory>();

        // Built once: creating an unregistered handler by reflection on every connection would be slow.
        var create = ActivatorUtilities.CreateFactory<THandler>([]);
        return connection => RunAsync(scopes, create, connection);
    }

    private static async Task RunAsync<THandler>(IServiceScopeFactory scopes, ObjectFactory<THandler> create, Connection connection)
        where THandler : class, IConnectionHandler
    {
        var scope = scopes.CreateAsyncScope();
        await using (scope.ConfigureAwait(false))
        {
            var registered = scope.ServiceProvider.GetService<THandler>();
            var handler = registered ?? create(scope.ServiceProvider, null);
            try
            {
                await handler.HandleAsync(connection).ConfigureAwait(false);
            }
            finally
            {
                // The scope disposes what it created; a handler we created is ours to dispose.
                if (registered is null)
                {
                    if (handler is IAsyncDisposable asyncDisposable)
                    {
                        await asyncDisposable.DisposeAsync().ConfigureAwait(false);
                    }
                    else if (handler is IDisposable disposable)
                    {
                        disposable.Dispose();
                    }
                }
            }
        }
    }
}
